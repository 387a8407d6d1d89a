//! HTML forms, read one way: [`Form<T>`] parses an `application/x-www-form-urlencoded`
//! body into a typed struct (a map, or a list of pairs where a field repeats), and a
//! form that does not parse is refused in the error boundary's format (422 naming
//! the field). Fields a browser sends empty (an unchosen select, a blank input) read
//! as absent through [`blank`]. A form that carries files (`multipart/form-data`)
//! is read by [`WithFiles`]: its fields as pairs, and its files.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::http::error::AppError;

/// A form body as `T` (fields it does not name, such as `_csrf`, are ignored).
pub struct Form<T>(pub T);

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| AppError::bad_request("bad_request", e.body_text()))?;
        serde_urlencoded::from_bytes(&body).map(Form).map_err(|e| {
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                format!("the form: {e}"),
            )
        })
    }
}

/// A form's fields as pairs (a field may repeat) and the files it carries. A file
/// input left empty sends nothing.
pub struct WithFiles {
    pub pairs: Vec<(String, String)>,
    pub files: Vec<renkei_incident::incidents::Upload>,
}

impl WithFiles {
    /// The first value of a field, or empty text.
    pub fn get(&self, name: &str) -> String {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

fn unreadable(e: impl std::fmt::Display) -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
        format!("the form: {e}"),
    )
}

impl<S> FromRequest<S> for WithFiles
where
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let multipart = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let Form(pairs) = Form::<Vec<(String, String)>>::from_request(request, state).await?;
            return Ok(WithFiles {
                pairs,
                files: Vec::new(),
            });
        }
        let mut form = axum::extract::Multipart::from_request(request, state)
            .await
            .map_err(|e| AppError::bad_request("bad_request", e.body_text()))?;
        let mut out = WithFiles {
            pairs: Vec::new(),
            files: Vec::new(),
        };
        while let Some(field) = form.next_field().await.map_err(unreadable)? {
            let name = field.name().unwrap_or("").to_string();
            match field.file_name().map(str::to_string) {
                Some(filename) => {
                    let content_type = field.content_type().unwrap_or("").to_string();
                    let data = field.bytes().await.map_err(unreadable)?.to_vec();
                    if filename.is_empty() && data.is_empty() {
                        continue;
                    }
                    out.files.push(renkei_incident::incidents::Upload {
                        filename,
                        content_type,
                        data,
                    });
                }
                None => {
                    let value = field.text().await.map_err(unreadable)?;
                    out.pairs.push((name, value));
                }
            }
        }
        Ok(out)
    }
}

/// For `#[serde(default, deserialize_with = "blank")]`: a value trimmed, and none when
/// the field is empty; a value that does not parse is an error naming it.
pub fn blank<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    match text.trim() {
        "" => Ok(None),
        t => t.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Sample {
        #[serde(default, deserialize_with = "blank")]
        vendor_id: Option<i64>,
        #[serde(default, deserialize_with = "blank")]
        reason: Option<String>,
        #[serde(default)]
        body: String,
    }

    fn parse(body: &str) -> Result<Sample, serde_urlencoded::de::Error> {
        serde_urlencoded::from_str(body)
    }

    #[test]
    fn blank_fields_read_as_absent_and_others_are_trimmed() {
        assert_eq!(
            parse("_csrf=x&vendor_id=&reason=+&body=hi").unwrap(),
            Sample {
                vendor_id: None,
                reason: None,
                body: "hi".into()
            }
        );
        assert_eq!(
            parse("vendor_id=+7+&reason=+late+").unwrap(),
            Sample {
                vendor_id: Some(7),
                reason: Some("late".into()),
                body: String::new()
            }
        );
    }

    #[test]
    fn a_value_that_does_not_parse_is_refused() {
        assert!(parse("vendor_id=seven").is_err());
    }
}
