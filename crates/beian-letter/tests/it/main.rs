//! The generated PDFs, read back with poppler's `pdftotext` (install with
//! `scripts/ensure-tools`).

use std::path::{Path, PathBuf};
use std::process::Command;

use beian_letter::{blank_template, commitment_letter, LetterData, LetterError, TITLE};
use chrono::NaiveDate;

fn sample() -> LetterData {
    LetterData {
        subject_name: "深圳市测试科技有限公司".to_owned(),
        subject_type: "企业".to_owned(),
        applet_name: "测试小助手".to_owned(),
        appid: "wx1234567890abcdef".to_owned(),
        principal_name: "张三".to_owned(),
        province: "广东省".to_owned(),
        date: NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid date"),
    }
}

/// Writes `pdf` under the test target dir and returns its path.
fn save(name: &str, pdf: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, pdf).expect("write the PDF");
    path
}

fn run(tool: &str, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{tool}` ({e}): poppler-utils is needed to read the PDFs back; run scripts/ensure-tools")
    });
    assert!(
        output.status.success(),
        "`{tool}` failed on the generated PDF ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The text of `pdf` as `pdftotext` extracts it, whitespace removed (line breaks fall
/// anywhere in wrapped text).
fn extract(name: &str, pdf: &[u8]) -> String {
    let path = save(name, pdf);
    let output = run("pdftotext", &[path.as_os_str(), "-".as_ref()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("Syntax Error"), "pdftotext complained: {stderr}");
    String::from_utf8(output.stdout).expect("UTF-8 text").split_whitespace().collect()
}

fn assert_one_a4_page(pdf: &Path) {
    let info = run("pdfinfo", &[pdf.as_os_str()]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.lines().any(|l| l.starts_with("Pages:") && l.ends_with(" 1")), "{info}");
    assert!(info.contains("595 x 842 pts (A4)"), "{info}");
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn filled_letter_reads_back_with_its_values() {
    let pdf = commitment_letter(&sample()).expect("letter renders");
    assert!(pdf.starts_with(b"%PDF-1.7"));
    assert!(pdf.len() < 300 * 1024, "subset fonts keep the PDF small, got {} bytes", pdf.len());
    let text = extract("letter.pdf", &pdf);
    for expected in [
        TITLE,
        "广东省通信管理局",
        "主办单位/个人名称：深圳市测试科技有限公司",
        "单位性质：企业",
        "小程序名称：测试小助手",
        "小程序AppID：wx1234567890abcdef",
        "负责人姓名：张三",
        "备案省份：广东省",
        "《互联网信息服务管理办法》",
        "前置审批",
        "承诺单位（盖章）",
        "承诺人（签字）",
        "2026年03月02日",
    ] {
        assert!(text.contains(expected), "{expected:?} not in the extracted text:\n{text}");
    }
    assert!(text.contains("本单位现就") && !text.contains("本单位（本人）"), "{text}");
    assert!(!text.contains('□'), "every character has a glyph: {text}");

    // One page, and an image for a human to look at.
    let path = save("letter-render.pdf", &pdf);
    assert_one_a4_page(&path);
    let artifacts = workspace_root().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("create test-artifacts/");
    let prefix = artifacts.join("letter");
    run(
        "pdftoppm",
        &[
            "-png".as_ref(),
            "-r".as_ref(),
            "60".as_ref(),
            "-singlefile".as_ref(),
            path.as_os_str(),
            prefix.as_os_str(),
        ],
    );
    assert!(artifacts.join("letter.png").is_file());
}

#[test]
fn blank_template_has_blanks_and_no_values() {
    let pdf = blank_template().expect("template renders");
    assert!(pdf.len() < 300 * 1024, "got {} bytes", pdf.len());
    let text = extract("blank.pdf", &pdf);
    for expected in [
        TITLE,
        "本单位（本人）",
        "主办单位/个人名称：________",
        "____年__月__日",
        "承诺单位（盖章）",
        "承诺人（签字）",
    ] {
        assert!(text.contains(expected), "{expected:?} not in the extracted text:\n{text}");
    }
    let sample = sample();
    for value in [
        &*sample.subject_name,
        &sample.applet_name,
        &sample.appid,
        &sample.principal_name,
        "广东省",
        "企业",
        "2026",
    ] {
        assert!(!text.contains(value), "blank template contains {value:?}");
    }

    let path = save("blank-render.pdf", &pdf);
    let prefix = workspace_root().join("test-artifacts");
    std::fs::create_dir_all(&prefix).expect("create test-artifacts/");
    run(
        "pdftoppm",
        &[
            "-png".as_ref(),
            "-r".as_ref(),
            "60".as_ref(),
            "-singlefile".as_ref(),
            path.as_os_str(),
            prefix.join("letter-blank").as_os_str(),
        ],
    );
}

#[test]
fn individual_letter_speaks_as_the_person_without_a_stamp_line() {
    let data = LetterData {
        subject_name: "李四".to_owned(),
        subject_type: "个人".to_owned(),
        principal_name: "李四".to_owned(),
        ..sample()
    };
    let text = extract("individual.pdf", &commitment_letter(&data).expect("letter renders"));
    assert!(text.contains("本人现就") && text.contains("承诺人（签字）"), "{text}");
    assert!(!text.contains("盖章") && !text.contains("本单位"), "{text}");
}

#[test]
fn rare_and_long_names_wrap_and_missing_characters_do_not_fail() {
    let data = LetterData {
        // 䶮 (CJK Ext. A) is in the font; 𠮷 (U+20BB7, Ext. B) and U+E000 are not.
        subject_name: "䶮龘㵘𠮷\u{E000}".repeat(3) + &"超长名称科技发展有限责任公司".repeat(6),
        applet_name: "A very long applet name with Latin words 和中文混排的超长小程序名称".repeat(3),
        appid: "wx".to_owned() + &"0123456789abcdef".repeat(8),
        principal_name: "欧阳·娜娜𠮷".to_owned(),
        province: "新疆维吾尔自治区".to_owned(),
        ..sample()
    };
    let pdf = commitment_letter(&data).expect("rare characters are replaced, not an error");
    let text = extract("long.pdf", &pdf);
    assert!(text.contains("䶮龘㵘□□"), "{text}");
    assert!(text.contains("新疆维吾尔自治区通信管理局"), "{text}");
    assert!(
        text.contains(&data.appid),
        "an over-long AppID is split across lines but extracts whole: {text}"
    );
    assert!(text.contains("2026年03月02日"), "{text}");
    assert_one_a4_page(&save("long-render.pdf", &pdf));
}

#[test]
fn absurdly_long_input_is_an_error_not_a_panic() {
    let data = LetterData { subject_name: "很".repeat(5000), ..sample() };
    assert!(matches!(commitment_letter(&data), Err(LetterError::TooLong)));
}

#[test]
fn output_is_reproducible() {
    let a = commitment_letter(&sample()).expect("letter renders");
    let b = commitment_letter(&sample()).expect("letter renders");
    assert_eq!(a, b);
}
