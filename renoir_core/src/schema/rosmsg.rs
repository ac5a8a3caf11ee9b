//! ROS `.msg` files -> [`Schema`].
//!
//! Understood: primitive types (`bool byte char float32 float64 int8..int64
//! uint8..uint64 string wstring`), bounded strings `string<=N`, arrays `T[N]`,
//! sequences `T[]` and bounded sequences `T[<=N]`, nested `Type`, `pkg/Type`
//! and `pkg/msg/Type`, default values after the field name, constants
//! (`TYPE NAME=VALUE`, returned separately, not fields) and `#` comments.
//! Every field is required (ROS fields are always present) and has a
//! default: the `.msg` default, else the zero value (`0`, `false`, `""`,
//! arrays of zeros, empty sequences), except single nested messages and
//! arrays of them (no default). Ids are 1, 2, ... in declaration order, so
//! appending fields keeps ids stable.

use semver::Version;
use thiserror::Error;

use super::model::{
    check_value, is_field_name, is_type_name, BaseType, Field, FieldType, NoTypes, Primitive,
    Schema, Value,
};

/// A parse error, with the 1-based line it is on (0 when not about a line).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MsgError {
    #[error("line {line}: {detail}")]
    Syntax { line: usize, detail: String },
    #[error("line {line}: unknown or malformed type `{ty}`")]
    BadType { line: usize, ty: String },
    #[error("line {line}: `{name}` is not a valid field or constant name")]
    BadName { line: usize, name: String },
    #[error("line {line}: bad default for `{field}`: {detail}")]
    BadDefault {
        line: usize,
        field: String,
        detail: String,
    },
    #[error("line {line}: bad value for constant `{name}`: {detail}")]
    BadConstant {
        line: usize,
        name: String,
        detail: String,
    },
    #[error("line {line}: `---` separates service/action parts; parse each part on its own")]
    Separator { line: usize },
    #[error("line {line}: too many fields (limit {max})")]
    TooManyFields { line: usize, max: usize },
    #[error("resulting schema is invalid: {detail}")]
    Invalid { detail: String },
}

impl MsgError {
    pub fn line(&self) -> usize {
        match self {
            MsgError::Syntax { line, .. }
            | MsgError::BadType { line, .. }
            | MsgError::BadName { line, .. }
            | MsgError::BadDefault { line, .. }
            | MsgError::BadConstant { line, .. }
            | MsgError::Separator { line }
            | MsgError::TooManyFields { line, .. } => *line,
            MsgError::Invalid { .. } => 0,
        }
    }
}

/// A constant declared in a `.msg` file.
#[derive(Debug, Clone, PartialEq)]
pub struct RosConstant {
    pub name: String,
    pub ty: FieldType,
    pub value: Value,
}

/// A parsed `.msg` file.
#[derive(Debug, Clone, PartialEq)]
pub struct RosMsg {
    pub schema: Schema,
    pub constants: Vec<RosConstant>,
}

/// Removes a `#` comment that is not inside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => return &line[..i],
                _ => {}
            },
        }
    }
    line
}

fn parse_num(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Resolves a `.msg` type token against the package of `owner`.
fn ros_base(tok: &str, owner: &str) -> Option<BaseType> {
    let prim = |p| Some(BaseType::Prim(p));
    match tok {
        "bool" => return prim(Primitive::Bool),
        "byte" | "char" | "uint8" => return prim(Primitive::U8),
        "int8" => return prim(Primitive::I8),
        "uint16" => return prim(Primitive::U16),
        "int16" => return prim(Primitive::I16),
        "uint32" => return prim(Primitive::U32),
        "int32" => return prim(Primitive::I32),
        "uint64" => return prim(Primitive::U64),
        "int64" => return prim(Primitive::I64),
        "float32" => return prim(Primitive::F32),
        "float64" => return prim(Primitive::F64),
        "string" | "wstring" => return Some(BaseType::String(None)),
        _ => {}
    }
    if let Some(n) = tok
        .strip_prefix("string<=")
        .or_else(|| tok.strip_prefix("wstring<="))
    {
        return parse_num(n).map(|n| BaseType::String(Some(n)));
    }
    // ROS message type names are CamelCase: a lower-case last segment is a
    // misspelt primitive (`float99`), not a nested type.
    let last = tok.rsplit('/').next().unwrap_or(tok);
    if !is_type_name(tok) || !last.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    let owner_parts: Vec<&str> = owner.split('/').collect();
    let long_form = owner_parts.len() == 3 && owner_parts[1] == "msg";
    let parts: Vec<&str> = tok.split('/').collect();
    let name = match parts.as_slice() {
        ["Header"] => {
            if long_form {
                "std_msgs/msg/Header".to_string()
            } else {
                "std_msgs/Header".to_string()
            }
        }
        [t] => match owner_parts.as_slice() {
            [pkg, "msg", _] => format!("{pkg}/msg/{t}"),
            [pkg, _] => format!("{pkg}/{t}"),
            _ => t.to_string(),
        },
        [pkg, t] if long_form => format!("{pkg}/msg/{t}"),
        _ => tok.to_string(),
    };
    Some(BaseType::Nested(name))
}

fn ros_type(tok: &str, owner: &str) -> Option<FieldType> {
    match tok.find('[') {
        None => ros_base(tok, owner).map(FieldType::Single),
        Some(open) => {
            let base = ros_base(&tok[..open], owner)?;
            let inner = tok[open + 1..].strip_suffix(']')?;
            if inner.is_empty() {
                Some(FieldType::Sequence(base, None))
            } else if let Some(m) = inner.strip_prefix("<=") {
                parse_num(m).map(|m| FieldType::Sequence(base, Some(m)))
            } else {
                parse_num(inner).map(|n| FieldType::Array(base, n))
            }
        }
    }
}

fn unquote(s: &str) -> Result<String, String> {
    let q = s.chars().next();
    match q {
        Some(q @ ('"' | '\'')) => {
            let body = s[1..]
                .strip_suffix(q)
                .ok_or_else(|| format!("unterminated string {s}"))?;
            let mut out = String::with_capacity(body.len());
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some(c) => out.push(c),
                        None => return Err("dangling backslash".into()),
                    }
                } else if c == q {
                    return Err(format!("unescaped quote in {s}"));
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        }
        _ => Ok(s.to_string()),
    }
}

fn parse_scalar(b: &BaseType, s: &str) -> Result<Value, String> {
    let s = s.trim();
    match b {
        BaseType::Prim(Primitive::Bool) => match s {
            "true" | "True" | "1" => Ok(Value::Bool(true)),
            "false" | "False" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("`{s}` is not a bool")),
        },
        BaseType::Prim(Primitive::F32) => s
            .parse::<f32>()
            .map(Value::F32)
            .map_err(|_| format!("`{s}` is not a float")),
        BaseType::Prim(Primitive::F64) => s
            .parse::<f64>()
            .map(Value::F64)
            .map_err(|_| format!("`{s}` is not a float")),
        BaseType::Prim(p) => {
            let i: i128 = s.parse().map_err(|_| format!("`{s}` is not an integer"))?;
            Value::int_of(*p, i).ok_or_else(|| format!("{i} is out of range for {}", p.name()))
        }
        BaseType::String(_) => unquote(s).map(Value::String),
        BaseType::Bytes | BaseType::Nested(_) => Err(format!("type {b} takes no default")),
    }
}

/// Splits `a, "b,c", d` on commas outside quotes.
fn split_list(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                ',' => {
                    out.push(s[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            },
        }
    }
    let last = s[start..].trim();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    out
}

fn parse_value(ty: &FieldType, s: &str) -> Result<Value, String> {
    let v = match ty {
        FieldType::Single(b) => parse_scalar(b, s)?,
        FieldType::Array(b, _) | FieldType::Sequence(b, _) => {
            let inner = s
                .trim()
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .ok_or_else(|| format!("`{s}` is not a [list]"))?;
            Value::List(
                split_list(inner)
                    .into_iter()
                    .map(|e| parse_scalar(b, e))
                    .collect::<Result<_, _>>()?,
            )
        }
    };
    check_value("value", ty, &v, &NoTypes, 0).map_err(|e| e.to_string())?;
    Ok(v)
}

/// Parses `.msg` text into a schema named `type_name` at `version`.
pub fn parse_ros_msg(type_name: &str, version: Version, text: &str) -> Result<RosMsg, MsgError> {
    let mut fields: Vec<Field> = Vec::new();
    let mut constants = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let content = strip_comment(raw).trim();
        if content.is_empty() {
            continue;
        }
        if content.starts_with("---") {
            return Err(MsgError::Separator { line });
        }
        let (ty_tok, rest) =
            content
                .split_once(char::is_whitespace)
                .ok_or_else(|| MsgError::Syntax {
                    line,
                    detail: format!("expected `TYPE NAME`, found `{content}`"),
                })?;
        let ty = ros_type(ty_tok, type_name).ok_or_else(|| MsgError::BadType {
            line,
            ty: ty_tok.to_string(),
        })?;
        let rest = rest.trim_start();
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        let after = rest[name_end..].trim();
        if !is_field_name(name) {
            return Err(MsgError::BadName {
                line,
                name: name.to_string(),
            });
        }
        if let Some(value) = after.strip_prefix('=') {
            let value = parse_value(&ty, value).map_err(|detail| MsgError::BadConstant {
                line,
                name: name.to_string(),
                detail,
            })?;
            constants.push(RosConstant {
                name: name.to_string(),
                ty,
                value,
            });
            continue;
        }
        if fields.len() >= super::model::MAX_FIELDS {
            return Err(MsgError::TooManyFields {
                line,
                max: super::model::MAX_FIELDS,
            });
        }
        // A field without a `.msg` default is initialized to zero by ROS:
        // that is its default (what migration fills in), except for nested
        // types whose zero message needs their own schema.
        let default = if after.is_empty() {
            ty.zero_value()
        } else {
            Some(
                parse_value(&ty, after).map_err(|detail| MsgError::BadDefault {
                    line,
                    field: name.to_string(),
                    detail,
                })?,
            )
        };
        let mut f = Field::new(fields.len() as u32 + 1, name, ty).since(version.clone());
        f.default = default;
        fields.push(f);
    }
    let schema = Schema {
        name: type_name.to_string(),
        version,
        format: "cdr".to_string(),
        fields,
        doc: String::new(),
    };
    schema.validate().map_err(|e| MsgError::Invalid {
        detail: e.to_string(),
    })?;
    Ok(RosMsg { schema, constants })
}
