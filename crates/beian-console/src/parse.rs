//! The console's request bodies as its handlers read them, public so the fuzz targets run
//! the same code: the multipart upload form (form bodies are `beian_web::form_pairs`, their
//! field paths `beian_core::draft::set_field`).

use axum::extract::Multipart;

/// The upload form's parts (other parts are ignored).
#[derive(Debug, Default)]
pub struct UploadForm {
    pub csrf: String,
    /// The draft field the file is for (a field path; checked by `draft::set_field`).
    pub field: String,
    pub certificate_type: String,
    pub media: Vec<u8>,
}

/// A part could not be read whole (over the body limit, or cut off).
#[derive(Debug, PartialEq, Eq)]
pub struct PartUnreadable;

/// Read the upload form. A malformed multipart body ends the form where it broke (the CSRF
/// check then refuses a form without its token); a part that cannot be read is an error.
pub async fn upload_form(mut mp: Multipart) -> Result<UploadForm, PartUnreadable> {
    let mut f = UploadForm::default();
    while let Ok(Some(part)) = mp.next_field().await {
        let name = part.name().unwrap_or_default().to_string();
        let data = part.bytes().await.map_err(|_| PartUnreadable)?;
        match name.as_str() {
            "_csrf" => f.csrf = String::from_utf8_lossy(&data).into(),
            "field" => f.field = String::from_utf8_lossy(&data).into(),
            "certificate_type" => f.certificate_type = String::from_utf8_lossy(&data).into(),
            "media" => f.media = data.to_vec(),
            _ => {}
        }
    }
    Ok(f)
}
