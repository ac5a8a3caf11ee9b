//! Content filters: the DDS SQL subset rmw exposes (field comparisons with
//! `= <> != < <= > >= LIKE`, `AND` / `OR` / `NOT`, parentheses, `%N`
//! parameters, numbers, 'strings', TRUE/FALSE), evaluated on the CDR bytes
//! of each received sample (no deserialization: the referenced fields are
//! read by walking the CDR with the type's layout).

use crate::ffi::{RResult, RmwError};
use crate::typesupport::MsgType;
use msg_support::cdr::Reader;
use msg_support::{Arity, FieldType, MessageLayout, Primitive};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Num(f64),
    Str(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
}

#[derive(Clone, Debug)]
enum Operand {
    Field(String),
    Lit(Val),
}

#[derive(Clone, Debug)]
enum Expr {
    Cmp(Operand, Op, Operand),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Str(String),
    Param(usize),
    Op(Op),
    LParen,
    RParen,
}

fn lex(s: &str) -> RResult<Vec<Tok>> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let bad = |m: &str| RmwError::invalid(format!("content filter: {m} in '{s}'"));
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == '\'' || ch == '"' || ch == '`' {
            let q = ch;
            let start = i + 1;
            i += 1;
            while i < c.len() && c[i] != q {
                i += 1;
            }
            if i >= c.len() {
                return Err(bad("unterminated string"));
            }
            out.push(Tok::Str(c[start..i].iter().collect()));
            i += 1;
        } else if ch == '%' {
            let start = i + 1;
            i += 1;
            while i < c.len() && c[i].is_ascii_digit() {
                i += 1;
            }
            let n: usize = c[start..i]
                .iter()
                .collect::<String>()
                .parse()
                .map_err(|_| bad("bad parameter"))?;
            out.push(Tok::Param(n));
        } else if ch.is_ascii_digit()
            || ((ch == '-' || ch == '+' || ch == '.')
                && c.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < c.len()
                && (c[i].is_ascii_alphanumeric()
                    || c[i] == '.'
                    || ((c[i] == '-' || c[i] == '+') && matches!(c[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let t: String = c[start..i].iter().collect();
            let v = if let Some(h) = t.strip_prefix("0x") {
                i64::from_str_radix(h, 16).map(|v| v as f64).ok()
            } else {
                t.parse::<f64>().ok()
            };
            out.push(Tok::Num(v.ok_or_else(|| bad("bad number"))?));
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            let (op, n) = match (two.as_str(), ch) {
                ("<>", _) | ("!=", _) => (Op::Ne, 2),
                ("<=", _) => (Op::Le, 2),
                (">=", _) => (Op::Ge, 2),
                ("==", _) => (Op::Eq, 2),
                (_, '=') => (Op::Eq, 1),
                (_, '<') => (Op::Lt, 1),
                (_, '>') => (Op::Gt, 1),
                _ => return Err(bad(&format!("unexpected '{ch}'"))),
            };
            out.push(Tok::Op(op));
            i += n;
        }
    }
    Ok(out)
}

struct Parser<'a> {
    t: Vec<Tok>,
    i: usize,
    params: &'a [String],
    src: &'a str,
}

impl Parser<'_> {
    fn bad(&self, m: &str) -> RmwError {
        RmwError::invalid(format!("content filter: {m} in '{}'", self.src))
    }
    fn kw(&self, k: &str) -> bool {
        matches!(self.t.get(self.i), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(k))
    }
    fn or(&mut self) -> RResult<Expr> {
        let mut e = self.and()?;
        while self.kw("OR") {
            self.i += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> RResult<Expr> {
        let mut e = self.not()?;
        while self.kw("AND") {
            self.i += 1;
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }
    fn not(&mut self) -> RResult<Expr> {
        if self.kw("NOT") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.t.get(self.i) == Some(&Tok::LParen) {
            self.i += 1;
            let e = self.or()?;
            if self.t.get(self.i) != Some(&Tok::RParen) {
                return Err(self.bad("missing ')'"));
            }
            self.i += 1;
            return Ok(e);
        }
        let a = self.operand()?;
        let op = match self.t.get(self.i) {
            Some(Tok::Op(o)) => *o,
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("LIKE") => Op::Like,
            _ => return Err(self.bad("expected a comparison operator")),
        };
        self.i += 1;
        let b = self.operand()?;
        Ok(Expr::Cmp(a, op, b))
    }
    fn operand(&mut self) -> RResult<Operand> {
        let t = self
            .t
            .get(self.i)
            .cloned()
            .ok_or_else(|| self.bad("unexpected end"))?;
        self.i += 1;
        Ok(match t {
            Tok::Num(n) => Operand::Lit(Val::Num(n)),
            Tok::Str(s) => Operand::Lit(Val::Str(s)),
            Tok::Ident(s) if s.eq_ignore_ascii_case("TRUE") => Operand::Lit(Val::Num(1.0)),
            Tok::Ident(s) if s.eq_ignore_ascii_case("FALSE") => Operand::Lit(Val::Num(0.0)),
            Tok::Ident(s) => Operand::Field(s),
            Tok::Param(n) => {
                let p = self
                    .params
                    .get(n)
                    .ok_or_else(|| self.bad(&format!("parameter %{n} not given")))?;
                match lex(p)?.as_slice() {
                    [Tok::Num(v)] => Operand::Lit(Val::Num(*v)),
                    [Tok::Str(s)] => Operand::Lit(Val::Str(s.clone())),
                    [Tok::Ident(s)] if s.eq_ignore_ascii_case("TRUE") => {
                        Operand::Lit(Val::Num(1.0))
                    }
                    [Tok::Ident(s)] if s.eq_ignore_ascii_case("FALSE") => {
                        Operand::Lit(Val::Num(0.0))
                    }
                    _ => Operand::Lit(Val::Str(p.clone())),
                }
            }
            _ => return Err(self.bad("expected a field, a literal or a parameter")),
        })
    }
}

/// A parsed content filter.
#[derive(Debug)]
pub struct Filter {
    expr_text: String,
    params: Vec<String>,
    expr: Expr,
    fields: Vec<String>,
}

fn collect_fields(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Cmp(a, _, b) => {
            for o in [a, b] {
                if let Operand::Field(f) = o {
                    if !out.contains(f) {
                        out.push(f.clone());
                    }
                }
            }
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            collect_fields(a, out);
            collect_fields(b, out);
        }
        Expr::Not(a) => collect_fields(a, out),
    }
}

/// Check that `path` names a single (non-array) primitive or string field.
fn field_exists(layout: &MessageLayout, path: &str) -> bool {
    let mut l = layout;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        let Some(f) = l.fields.iter().find(|f| f.name == p) else {
            return false;
        };
        if f.arity != Arity::Single {
            return false;
        }
        match (&f.ty, parts.peek()) {
            (FieldType::Message(m), Some(_)) => l = m,
            (FieldType::Message(_), None) => return false,
            (_, Some(_)) => return false,
            (_, None) => return true,
        }
    }
    false
}

impl Filter {
    pub fn new(expr: &str, params: &[String], ty: &MsgType) -> RResult<Self> {
        Self::with_layout(expr, params, ty.ts.layout())
    }

    pub fn with_layout(expr: &str, params: &[String], layout: &MessageLayout) -> RResult<Self> {
        let mut p = Parser {
            t: lex(expr)?,
            i: 0,
            params,
            src: expr,
        };
        let e = p.or()?;
        if p.i != p.t.len() {
            return Err(p.bad("trailing input"));
        }
        let mut fields = Vec::new();
        collect_fields(&e, &mut fields);
        for f in &fields {
            if !field_exists(layout, f) {
                return Err(RmwError::invalid(format!(
                    "content filter: '{f}' is not a single primitive or string field of {}",
                    layout.type_name()
                )));
            }
        }
        Ok(Filter {
            expr_text: expr.to_string(),
            params: params.to_vec(),
            expr: e,
            fields,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expr_text
    }

    pub fn parameters(&self) -> &[String] {
        &self.params
    }

    pub fn accepts(&self, ty: &MsgType, s: &[u8]) -> bool {
        self.accepts_bytes(ty.ts.layout(), s)
    }

    /// Evaluate on CDR bytes (header + body). Malformed bytes are rejected.
    pub fn accepts_bytes(&self, layout: &MessageLayout, bytes: &[u8]) -> bool {
        let Some(body) = bytes.get(4..) else {
            return false;
        };
        let mut vals = HashMap::new();
        let mut w = Walker {
            r: Reader::new(body),
        };
        if w.message(layout, "", &self.fields, &mut vals).is_none() {
            return false;
        }
        eval(&self.expr, &vals).unwrap_or(false)
    }
}

fn eval(e: &Expr, v: &HashMap<String, Val>) -> Option<bool> {
    Some(match e {
        Expr::And(a, b) => eval(a, v)? && eval(b, v)?,
        Expr::Or(a, b) => eval(a, v)? || eval(b, v)?,
        Expr::Not(a) => !eval(a, v)?,
        Expr::Cmp(a, op, b) => {
            let get = |o: &Operand| match o {
                Operand::Lit(x) => Some(x.clone()),
                Operand::Field(f) => v.get(f).cloned(),
            };
            let (x, y) = (get(a)?, get(b)?);
            if *op == Op::Like {
                let (Val::Str(x), Val::Str(p)) = (x, y) else {
                    return Some(false);
                };
                return Some(like(&x, &p));
            }
            let ord = match (&x, &y) {
                (Val::Num(x), Val::Num(y)) => x.partial_cmp(y)?,
                (Val::Str(x), Val::Str(y)) => x.cmp(y),
                (Val::Num(n), Val::Str(s)) => n.partial_cmp(&s.parse::<f64>().ok()?)?,
                (Val::Str(s), Val::Num(n)) => s.parse::<f64>().ok()?.partial_cmp(n)?,
            };
            use std::cmp::Ordering::*;
            match op {
                Op::Eq => ord == Equal,
                Op::Ne => ord != Equal,
                Op::Lt => ord == Less,
                Op::Le => ord != Greater,
                Op::Gt => ord == Greater,
                Op::Ge => ord != Less,
                Op::Like => unreachable!(),
            }
        }
    })
}

/// SQL LIKE: `%` any run, `_` one character.
fn like(s: &str, p: &str) -> bool {
    let (s, p): (Vec<char>, Vec<char>) = (s.chars().collect(), p.chars().collect());
    let (mut si, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

/// Collects field values from untrusted CDR bytes, reading them with
/// msg_support's bounds-checked cursor (any error: the sample is rejected).
struct Walker<'a> {
    r: Reader<'a>,
}

impl Walker<'_> {
    fn take(&mut self, align: usize, n: usize) -> Option<&[u8]> {
        self.r.take(align, n).ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.r.u32().ok()
    }
    fn prim(&mut self, p: Primitive) -> Option<Val> {
        let s = self.take(p.align(), p.size())?;
        let mut a = [0u8; 8];
        let n = s.len().min(8);
        a[..n].copy_from_slice(&s[..n]);
        Some(Val::Num(match p {
            Primitive::Bool | Primitive::Char | Primitive::Octet | Primitive::U8 => s[0] as f64,
            Primitive::I8 => s[0] as i8 as f64,
            Primitive::U16 | Primitive::WChar => u16::from_le_bytes([a[0], a[1]]) as f64,
            Primitive::I16 => i16::from_le_bytes([a[0], a[1]]) as f64,
            Primitive::U32 => u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            Primitive::I32 => i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            Primitive::F32 => f32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            Primitive::U64 => u64::from_le_bytes(a) as f64,
            Primitive::I64 => i64::from_le_bytes(a) as f64,
            Primitive::F64 => f64::from_le_bytes(a),
            Primitive::LongDouble => f64::NAN,
        }))
    }
    fn string(&mut self) -> Option<Val> {
        let n = self.u32()? as usize;
        let s = self.take(1, n)?;
        let s = s.strip_suffix(&[0]).unwrap_or(s);
        Some(Val::Str(String::from_utf8_lossy(s).into_owned()))
    }
    fn wstring(&mut self) -> Option<Val> {
        let n = self.u32()? as usize;
        let s = self.take(4, n.checked_mul(4)?)?;
        let units: Vec<u16> = s
            .chunks_exact(4)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(Val::Str(String::from_utf16_lossy(&units)))
    }
    fn element(
        &mut self,
        ty: &FieldType,
        path: &str,
        want: &[String],
        out: &mut HashMap<String, Val>,
    ) -> Option<Option<Val>> {
        Some(match ty {
            FieldType::Primitive(p) => Some(self.prim(*p)?),
            FieldType::String { .. } => Some(self.string()?),
            FieldType::WString { .. } => Some(self.wstring()?),
            FieldType::Message(m) => {
                self.message(m, path, want, out)?;
                None
            }
        })
    }
    fn message(
        &mut self,
        l: &MessageLayout,
        prefix: &str,
        want: &[String],
        out: &mut HashMap<String, Val>,
    ) -> Option<()> {
        for f in &l.fields {
            let path = if prefix.is_empty() {
                f.name.clone()
            } else {
                format!("{prefix}.{}", f.name)
            };
            let n = match f.arity {
                Arity::Single => {
                    if let Some(v) = self.element(&f.ty, &path, want, out)? {
                        if want.contains(&path) {
                            out.insert(path, v);
                        }
                    }
                    continue;
                }
                Arity::Array(n) => n,
                Arity::Sequence { .. } => self.u32()? as usize,
            };
            if let FieldType::Primitive(p) = f.ty {
                // Skip the whole block at once (bounded by the buffer).
                self.take(p.align(), n.checked_mul(p.size())?)?;
            } else {
                // Every element needs at least one byte: a hostile length
                // cannot make us loop longer than the bytes left.
                self.r.need(n).ok()?;
                for _ in 0..n {
                    self.element(&f.ty, "\u{0}", &[], out)?;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, Val)]) -> HashMap<String, Val> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn parse(e: &str, params: &[&str]) -> Expr {
        let params: Vec<String> = params.iter().map(|s| s.to_string()).collect();
        let mut p = Parser {
            t: lex(e).unwrap(),
            i: 0,
            params: &params,
            src: e,
        };
        let x = p.or().unwrap();
        assert_eq!(p.i, p.t.len());
        x
    }

    #[test]
    fn sql_subset() {
        let v = vals(&[
            ("data", Val::Num(5.0)),
            ("name", Val::Str("robot_1".into())),
            ("h.x", Val::Num(-1.5)),
        ]);
        let t = |e: &str, p: &[&str]| eval(&parse(e, p), &v).unwrap();
        assert!(t("data = 5", &[]));
        assert!(t("data > %0 AND name = %1", &["3", "'robot_1'"]));
        assert!(!t("data > %0 AND NOT name = 'robot_1'", &["3"]));
        assert!(
            t("data < 3 OR (h.x <= -1 AND name LIKE 'robot\\_%')", &[])
                || t("name LIKE 'rob%'", &[])
        );
        assert!(t("name LIKE 'r_bot%'", &[]));
        assert!(t("data <> 4", &[]) && t("data != 4", &[]) && t("data >= 5", &[]));
        assert!(!t("name LIKE 'x%'", &[]));
    }

    #[test]
    fn like_patterns() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "_b_"));
        assert!(!like("abc", "b%"));
        assert!(like("", "%"));
    }

    #[test]
    fn lexer_rejects_garbage() {
        assert!(lex("data = 'open").is_err());
        assert!(lex("data ? 3").is_err());
    }
}
