//! Column types for row types mapped with `#[derive(sqlx::FromRow)]`, so that a row
//! type names its columns once, in its derive.
//!
//! Some columns are stored one way in both dialects and read another way in Rust:
//! - a yes/no is an integer (SQLite has no boolean type, so both schemas use one):
//!   the field reads `#[sqlx(try_from = "Bit")]`;
//! - structured values are JSON text: a JSON value or a list of text reads
//!   `#[sqlx(try_from = "JsonText")]`, and a crate's own type says once that it is
//!   stored so with [`json_column!`](crate::json_column);
//! - words (states, kinds, TLP) are text: a crate's own type says once that it is
//!   read with its `TryFrom<String>` (its `parse`) with
//!   [`text_column!`](crate::text_column).
//!
//! A type marked with a macro also reads as an optional field, from a nullable
//! column, with no attribute.

use serde::de::DeserializeOwned;
use sqlx::Database;
use sqlx::decode::Decode;
use sqlx::error::BoxDynError;
use sqlx::types::Type;

/// A column read as `$stored` (of type `$kind` in the database) and kept in the
/// wrapper `$column`.
macro_rules! column {
    ($column:ident, kind $kind:ty, read $stored:ty) => {
        impl<DB: Database> Type<DB> for $column
        where
            $kind: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <$kind as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <$kind as Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $column
        where
            $stored: Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok($column(<$stored as Decode<'r, DB>>::decode(value)?))
            }
        }
    };
}

column!(Bit, kind i64, read i64);
column!(MaybeBit, kind i64, read Option<i64>);
column!(JsonText, kind String, read Option<String>);
column!(Commas, kind String, read String);

/// An integer column read as yes (not zero) or no (zero).
#[derive(Debug, Clone, Copy)]
pub struct Bit(pub i64);

impl From<Bit> for bool {
    fn from(bit: Bit) -> bool {
        bit.0 != 0
    }
}

/// An integer column that may be null: yes, no, or not asked.
#[derive(Debug, Clone, Copy)]
pub struct MaybeBit(pub Option<i64>);

impl From<MaybeBit> for Option<bool> {
    fn from(bit: MaybeBit) -> Option<bool> {
        bit.0.map(|b| b != 0)
    }
}

/// A text column holding JSON (or null). What does not parse reads as the type's
/// empty value: the column is written only by Renkei, and a page that cannot show
/// one detail must still show the rest.
#[derive(Debug, Clone, Default)]
pub struct JsonText(pub Option<String>);

impl JsonText {
    /// The value, or `T`'s default when the column is null or not `T`.
    pub fn read<T: DeserializeOwned + Default>(&self) -> T {
        self.read_opt().unwrap_or_default()
    }

    /// The value, or none when the column is null or not `T`.
    pub fn read_opt<T: DeserializeOwned>(&self) -> Option<T> {
        self.0.as_deref().and_then(|t| serde_json::from_str(t).ok())
    }
}

#[doc(hidden)]
pub use sqlx as __sqlx;

/// Says that a crate's own type is stored as text and read with its
/// `TryFrom<String>` (its `parse`), so a row field of that type, or an optional one,
/// needs no attribute.
#[macro_export]
macro_rules! text_column {
    ($($ty:ty),+ $(,)?) => {$(
        impl<DB: $crate::row::__sqlx::Database> $crate::row::__sqlx::types::Type<DB> for $ty
        where
            String: $crate::row::__sqlx::types::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as $crate::row::__sqlx::types::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as $crate::row::__sqlx::types::Type<DB>>::compatible(ty)
            }
        }
        impl<'r, DB: $crate::row::__sqlx::Database> $crate::row::__sqlx::decode::Decode<'r, DB> for $ty
        where
            String: $crate::row::__sqlx::decode::Decode<'r, DB>,
        {
            fn decode(
                value: DB::ValueRef<'r>,
            ) -> ::std::result::Result<Self, $crate::row::__sqlx::error::BoxDynError> {
                let text = <String as $crate::row::__sqlx::decode::Decode<'r, DB>>::decode(value)?;
                <$ty as ::std::convert::TryFrom<String>>::try_from(text).map_err(::std::convert::Into::into)
            }
        }
    )+};
}

/// Says that a crate's own type is stored as JSON text (read leniently, as
/// [`JsonText::read`] does), so a row field of that type, or an optional one, needs
/// no attribute.
#[macro_export]
macro_rules! json_column {
    ($($ty:ty),+ $(,)?) => {$(
        impl<DB: $crate::row::__sqlx::Database> $crate::row::__sqlx::types::Type<DB> for $ty
        where
            String: $crate::row::__sqlx::types::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as $crate::row::__sqlx::types::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as $crate::row::__sqlx::types::Type<DB>>::compatible(ty)
            }
        }
        impl<'r, DB: $crate::row::__sqlx::Database> $crate::row::__sqlx::decode::Decode<'r, DB> for $ty
        where
            Option<String>: $crate::row::__sqlx::decode::Decode<'r, DB>,
        {
            fn decode(
                value: DB::ValueRef<'r>,
            ) -> ::std::result::Result<Self, $crate::row::__sqlx::error::BoxDynError> {
                let text = <$crate::row::JsonText as $crate::row::__sqlx::decode::Decode<'r, DB>>::decode(value)?;
                ::std::result::Result::Ok(text.read())
            }
        }
    )+};
}

/// `null` when the column is null or not JSON.
impl From<JsonText> for serde_json::Value {
    fn from(text: JsonText) -> serde_json::Value {
        text.read()
    }
}

impl From<JsonText> for Vec<String> {
    fn from(text: JsonText) -> Vec<String> {
        text.read()
    }
}

/// A text column holding a comma-separated list (languages, tags), read as the
/// list of its non-empty items: `#[sqlx(try_from = "Commas")]`.
#[derive(Debug, Clone, Default)]
pub struct Commas(pub String);

impl From<Commas> for Vec<String> {
    fn from(list: Commas) -> Vec<String> {
        list.0
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_reads_null_and_garbage_as_the_empty_value() {
        assert_eq!(JsonText(None).read::<Vec<String>>(), Vec::<String>::new());
        assert_eq!(
            JsonText(Some("{".into())).read::<serde_json::Value>(),
            serde_json::Value::Null
        );
        assert_eq!(
            JsonText(Some("[\"a\"]".into())).read::<Vec<String>>(),
            vec!["a".to_string()]
        );
        assert_eq!(JsonText(Some("3".into())).read_opt::<Vec<String>>(), None);
    }

    #[test]
    fn commas_read_as_the_non_empty_items() {
        let list = Vec::<String>::from(Commas("ja,, en ,".into()));
        assert_eq!(list, vec!["ja".to_string(), "en".to_string()]);
    }

    #[test]
    fn a_bit_is_yes_when_not_zero() {
        assert!(bool::from(Bit(1)));
        assert!(bool::from(Bit(-1)));
        assert!(!bool::from(Bit(0)));
    }
}
