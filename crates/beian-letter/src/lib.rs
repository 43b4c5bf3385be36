//! The commitment letter (互联网信息服务承诺书) of an ICP filing, as a one-page A4 PDF in
//! Chinese (PRODUCT rule 10): either pre-filled from a filing and dated, for the filer to
//! print, stamp or sign and upload ([`commitment_letter`]), or the blank template
//! ([`blank_template`]). Either is accepted.
//!
//! The fonts are compiled into the crate, so generating a letter needs nothing from the
//! machine: Droid Sans Fallback (Apache-2.0) for Chinese, and DejaVu Sans (Bitstream Vera
//! license) for Latin letters and digits, which Droid Sans Fallback lacks. Each PDF embeds
//! only the subset of glyphs it uses. A character neither font has is drawn as `□` (and
//! logged) rather than failing.

mod font;
mod layout;
mod pdf;

use chrono::NaiveDate;

use crate::font::{Fonts, Subset};
use crate::layout::{Align, Block, Style};

/// The title of the letter.
pub const TITLE: &str = "互联网信息服务承诺书";

/// What a pre-filled letter shows, taken from the filing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterData {
    /// 主办单位/个人名称.
    pub subject_name: String,
    /// 单位性质, by name (e.g. 企业, 个人); a letter for 个人 speaks as 本人 and has no
    /// stamp line.
    pub subject_type: String,
    /// 小程序名称.
    pub applet_name: String,
    /// The mini program's AppID.
    pub appid: String,
    /// 负责人姓名.
    pub principal_name: String,
    /// 备案省份, the full name (e.g. 广东省); the letter is addressed to its 通信管理局.
    pub province: String,
    /// The date on the letter.
    pub date: NaiveDate,
}

/// Why a letter could not be generated. A character the fonts lack is not an error (it is
/// drawn as `□`).
#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("the embedded font cannot be parsed: {0}")]
    FontParse(#[source] ttf_parser::FaceParsingError),
    #[error("subsetting the embedded font failed: {0}")]
    FontSubset(#[source] subsetter::Error),
    #[error("the letter does not fit on one page even at the smallest font size (fields too long)")]
    TooLong,
}

/// The letter pre-filled from a filing, dated `data.date`.
pub fn commitment_letter(data: &LetterData) -> Result<Vec<u8>, LetterError> {
    let subject = format!("{} {}", data.applet_name.trim(), data.appid.trim());
    let date = format!("D:{}", data.date.format("%Y%m%d"));
    render(&blocks(Some(data)), &pdf::Info { title: TITLE, subject: subject.trim(), date: Some(date) })
}

/// The blank template: the same text with blanks (`________`) for the filing's values and
/// the date.
pub fn blank_template() -> Result<Vec<u8>, LetterError> {
    render(&blocks(None), &pdf::Info { title: TITLE, subject: "空白模板", date: None })
}

/// Body font sizes tried in turn until the letter fits on the page.
const BODY_SIZES: [f32; 8] = [12.0, 11.5, 11.0, 10.5, 10.0, 9.5, 9.0, 8.5];

fn render(blocks: &[Block], info: &pdf::Info<'_>) -> Result<Vec<u8>, LetterError> {
    let fonts = Fonts::load()?;
    let lines = BODY_SIZES
        .iter()
        .find_map(|&size| layout::layout(&fonts, blocks, size))
        .ok_or(LetterError::TooLong)?;
    let subsets = fonts
        .faces()
        .iter()
        .enumerate()
        .map(|(i, face)| {
            let mut glyphs = lines.iter().flat_map(|l| &l.glyphs).filter(|g| g.font == i).copied().peekable();
            glyphs.peek().is_some().then(|| Subset::new(face, glyphs)).transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(pdf::write(&lines, &subsets, info))
}

/// A blank to fill in by hand, `n` underscores wide.
fn blank(n: usize) -> String {
    "_".repeat(n)
}

/// The letter's text, filled from `data` or with blanks.
fn blocks(data: Option<&LetterData>) -> Vec<Block> {
    let value = |get: fn(&LetterData) -> &str, width: usize| match data.map(get).map(str::trim) {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => blank(width),
    };
    let subject_name = value(|d| &d.subject_name, 24);
    let subject_type = value(|d| &d.subject_type, 16);
    let applet_name = value(|d| &d.applet_name, 24);
    let appid = value(|d| &d.appid, 24);
    let principal_name = value(|d| &d.principal_name, 16);
    let province = value(|d| &d.province, 16);
    let addressee = value(|d| &d.province, 8);
    let date = match data {
        Some(d) => d.date.format("%Y年%m月%d日").to_string(),
        None => "____年__月__日".to_owned(),
    };
    let individual = data.map(|d| d.subject_type.trim() == "个人");
    let we = match individual {
        Some(true) => "本人",
        Some(false) => "本单位",
        None => "本单位（本人）",
    };

    let title = Style {
        scale: 5.0 / 3.0,
        align: Align::Center,
        first_indent: 0.0,
        justify: false,
        bold: true,
        ..Style::PARAGRAPH
    };
    let addressee_style = Style { first_indent: 0.0, space_before: 0.6, ..Style::PARAGRAPH };
    let field = Style { hang_after_label: true, justify: false, ..Style::PARAGRAPH };
    let signature = Style { left: 17.0, first_indent: 0.0, justify: false, ..Style::PARAGRAPH };
    let note = Style { scale: 0.8, first_indent: 0.0, space_before: 1.0, ..Style::PARAGRAPH };

    let paragraph = |text: String| Block { text, style: Style::PARAGRAPH };
    let mut blocks = vec![
        Block { text: TITLE.to_owned(), style: title },
        Block { text: format!("{addressee}通信管理局："), style: addressee_style },
        paragraph(format!("{we}现就下列小程序办理互联网信息服务备案，备案信息如下：")),
        Block { text: format!("主办单位/个人名称：{subject_name}"), style: field },
        Block { text: format!("单位性质：{subject_type}"), style: field },
        Block { text: format!("小程序名称：{applet_name}"), style: field },
        Block { text: format!("小程序AppID：{appid}"), style: field },
        Block { text: format!("负责人姓名：{principal_name}"), style: field },
        Block { text: format!("备案省份：{province}"), style: field },
        Block {
            text: format!("{we}就上述小程序的备案及运营郑重承诺如下："),
            style: Style { space_before: 0.3, ..Style::PARAGRAPH },
        },
        paragraph(
            "一、所提交的备案信息（包括主办者信息、负责人信息及小程序信息）真实、准确、完整，\
             所提供的证件及证明材料真实、合法、有效，不存在虚假填报、冒用他人信息等情形。"
                .to_owned(),
        ),
        paragraph(
            "二、严格遵守《中华人民共和国网络安全法》《互联网信息服务管理办法》\
             《非经营性互联网信息服务备案管理办法》等法律法规，不利用本小程序制作、复制、发布、\
             传播含有下列内容的信息：反对宪法所确定的基本原则的；危害国家安全，泄露国家秘密，\
             颠覆国家政权，破坏国家统一的；损害国家荣誉和利益的；煽动民族仇恨、民族歧视，\
             破坏民族团结的；破坏国家宗教政策，宣扬邪教和封建迷信的；散布谣言，扰乱社会秩序，\
             破坏社会稳定的；散布淫秽、色情、赌博、暴力、凶杀、恐怖或者教唆犯罪的；侮辱或者诽谤他人，\
             侵害他人合法权益的；含有法律、行政法规禁止的其他内容的。"
                .to_owned(),
        ),
        paragraph(
            "三、本小程序如涉及新闻、出版、教育、医疗保健、药品和医疗器械、文化、广播电影电视节目等\
             依法须经有关主管部门审核同意的互联网信息服务，已依法取得相应的前置审批文件，\
             并在批准的范围内提供服务；未取得前置审批的，不提供上述服务。"
                .to_owned(),
        ),
        paragraph(
            "四、备案信息发生变化的，自信息变更之日起三十日内办理备案变更手续；\
             停止提供互联网信息服务的，及时办理备案注销手续，确保备案信息持续真实、有效。"
                .to_owned(),
        ),
        paragraph(
            "五、落实网络与信息安全管理制度和技术保护措施，依法保护用户个人信息；\
             发现本小程序传输的信息明显属于上述禁止内容的，立即停止传输，保存有关记录，\
             并向有关主管部门报告。"
                .to_owned(),
        ),
        paragraph(format!(
            "六、接受并配合主管部门依法开展的监督检查。如违反上述承诺，{we}愿意承担由此引起的\
             一切法律责任，并接受主管部门依法作出的注销备案、关闭小程序等处理。"
        )),
    ];
    if individual != Some(true) {
        blocks.push(Block {
            text: format!("承诺单位（盖章）：{}", blank(16)),
            style: Style { space_before: 1.5, ..signature },
        });
    }
    blocks.push(Block {
        text: format!("承诺人（签字）：{}", blank(18)),
        // Room for the stamp above.
        style: Style { space_before: if individual == Some(true) { 1.5 } else { 1.2 }, ..signature },
    });
    blocks.push(Block { text: format!("日期：{date}"), style: signature });
    if data.is_none() {
        blocks.push(Block {
            text: "注：单位主办者须加盖单位公章，并由负责人签字；个人主办者由本人签字。\
                   填写完整后扫描或拍照上传至备案平台。"
                .to_owned(),
            style: note,
        });
    }
    blocks
}
