//! Rich (boolean) dependencies, as rpm 4.13 and later write them:
//! `(a or b)`, `(a and b)`, `(a if b)`, `(a if b else c)`, `(a unless b)`,
//! `(a unless b else c)`, `(a with b)`, `(a without b)`, nested, each
//! operand a capability with an optional version (`(foo >= 1.2 or bar)`).

use crate::repo::{Comparison, Evr};

/// A parsed rich dependency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rich {
    /// A capability, with an optional version constraint.
    Simple(String, Option<(Comparison, Evr)>),
    /// Every operand.
    And(Vec<Rich>),
    /// At least one operand.
    Or(Vec<Rich>),
    /// The first operand when the second holds, else the third (if any).
    If(Box<Rich>, Box<Rich>, Option<Box<Rich>>),
    /// The first operand unless the second holds, else the third (if any).
    Unless(Box<Rich>, Box<Rich>, Option<Box<Rich>>),
    /// Every operand, from one package (kept as `And` for resolution).
    With(Vec<Rich>),
    /// The first without the second, from one package.
    Without(Box<Rich>, Box<Rich>),
}

/// Most nesting a rich dependency may have.
const MAX_DEPTH: usize = 32;

/// Parses a rich dependency (the text starts with `(`).
pub fn parse(text: &str) -> Result<Rich, String> {
    let tokens = tokenize(text)?;
    let mut at = 0;
    let rich = expr(&tokens, &mut at, 0)?;
    if at != tokens.len() {
        return Err(format!("{text:?}: text after the closing parenthesis"));
    }
    Ok(rich)
}

fn tokenize(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else { break };
        if c == '(' || c == ')' {
            out.push(&rest[..1]);
            rest = &rest[1..];
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = &rest[end..];
        if out.len() > 10_000 {
            return Err("a rich dependency of more than 10000 words".into());
        }
    }
    Ok(out)
}

fn operand(tokens: &[&str], at: &mut usize, depth: usize) -> Result<Rich, String> {
    match tokens.get(*at) {
        Some(&"(") => expr(tokens, at, depth + 1),
        Some(name) if !is_keyword(name) && *name != ")" => {
            *at += 1;
            let op = match tokens.get(*at).copied() {
                Some("=") | Some("==") => Some(Comparison::Eq),
                Some("<") => Some(Comparison::Lt),
                Some(">") => Some(Comparison::Gt),
                Some("<=") => Some(Comparison::Le),
                Some(">=") => Some(Comparison::Ge),
                _ => None,
            };
            let constraint = match op {
                Some(op) => {
                    *at += 1;
                    let v = tokens
                        .get(*at)
                        .ok_or_else(|| format!("{name} {}: no version", op.symbol()))?;
                    *at += 1;
                    let evr = Evr::parse(v).ok_or_else(|| format!("{name}: bad version {v:?}"))?;
                    Some((op, evr))
                }
                None => None,
            };
            Ok(Rich::Simple((*name).to_string(), constraint))
        }
        Some(t) => Err(format!("expected a capability, found {t:?}")),
        None => Err("the dependency ends too early".into()),
    }
}

fn is_keyword(t: &str) -> bool {
    matches!(
        t,
        "and" | "or" | "if" | "unless" | "else" | "with" | "without"
    )
}

fn expr(tokens: &[&str], at: &mut usize, depth: usize) -> Result<Rich, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested more than {MAX_DEPTH} deep"));
    }
    if tokens.get(*at) != Some(&"(") {
        return Err("a rich dependency starts with (".into());
    }
    *at += 1;
    let first = operand(tokens, at, depth)?;
    let rich = match tokens.get(*at).copied() {
        Some(")") => first,
        Some(op @ ("and" | "or" | "with")) => {
            let mut all = vec![first];
            while tokens.get(*at) == Some(&op) {
                *at += 1;
                all.push(operand(tokens, at, depth)?);
            }
            match op {
                "and" => Rich::And(all),
                "or" => Rich::Or(all),
                _ => Rich::With(all),
            }
        }
        Some(op @ ("if" | "unless")) => {
            *at += 1;
            let cond = operand(tokens, at, depth)?;
            let otherwise = if tokens.get(*at) == Some(&"else") {
                *at += 1;
                Some(Box::new(operand(tokens, at, depth)?))
            } else {
                None
            };
            if op == "if" {
                Rich::If(Box::new(first), Box::new(cond), otherwise)
            } else {
                Rich::Unless(Box::new(first), Box::new(cond), otherwise)
            }
        }
        Some("without") => {
            *at += 1;
            let second = operand(tokens, at, depth)?;
            Rich::Without(Box::new(first), Box::new(second))
        }
        Some(t) => return Err(format!("unexpected {t:?}")),
        None => return Err("no closing parenthesis".into()),
    };
    if tokens.get(*at) != Some(&")") {
        return Err(format!(
            "expected ) after the operands, found {:?} (operators of one level must be the same)",
            tokens.get(*at).copied().unwrap_or("the end")
        ));
    }
    *at += 1;
    Ok(rich)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simple(name: &str) -> Rich {
        Rich::Simple(name.into(), None)
    }

    #[test]
    fn parses_what_rpm_writes() {
        assert_eq!(
            parse("(a or b)"),
            Ok(Rich::Or(vec![simple("a"), simple("b")]))
        );
        assert_eq!(
            parse("(a if b else c)"),
            Ok(Rich::If(
                Box::new(simple("a")),
                Box::new(simple("b")),
                Some(Box::new(simple("c")))
            ))
        );
        let Ok(Rich::And(v)) = parse("(foo >= 1.2-3 and (bar or baz < 2))") else {
            panic!("not an and");
        };
        assert_eq!(v.len(), 2);
        assert!(matches!(&v[0], Rich::Simple(n, Some((Comparison::Ge, _))) if n == "foo"));
        assert!(parse("(a or b and c)").is_err());
        assert!(parse("(a or").is_err());
        assert!(parse(&format!("{}a{}", "(".repeat(40), ")".repeat(40))).is_err());
    }
}
