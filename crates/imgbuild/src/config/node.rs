//! A configuration document as a tree of values, read by either format's
//! parser, and a walker over it that knows the key path of every value it
//! hands out, so that each error names the field it is about.
//!
//! Both readers walk this tree rather than deriving structs: a key that no
//! reader asks for is an error naming it, a key given twice is an error, and
//! each message carries the path (`Disks[0].Partitions[1].FsType`).

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error;
use crate::error::{Error, Result};

/// One value of a JSON or YAML document.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// `null`, `~`, or an empty YAML value.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i128),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A map with string keys, in document order, each key once.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// What the value is, for messages ("found a list").
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a map",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a null, boolean, number, string, list or map")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            // Both parsers would keep one of the two silently.
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn key_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// `parent["key"]`, for maps whose keys are data (file names), not fields.
pub(crate) fn quoted_path(parent: &str, key: &str) -> String {
    format!("{parent}[{key:?}]")
}

/// A value and where it is: the file and the key path.
#[derive(Clone)]
pub(crate) struct Field<'a> {
    pub(crate) file: &'a Path,
    pub(crate) path: String,
    pub(crate) node: &'a Node,
}

impl<'a> Field<'a> {
    /// The document's root, whose path is empty.
    pub(crate) fn root(file: &'a Path, node: &'a Node) -> Self {
        Field {
            file,
            path: String::new(),
            node,
        }
    }

    /// An error about this value.
    pub(crate) fn error(&self, message: impl Into<String>) -> Error {
        let field = if self.path.is_empty() {
            "(document)"
        } else {
            self.path.as_str()
        };
        error::config(self.file, field, message)
    }

    fn wrong_kind(&self, expected: &str) -> Error {
        self.error(format!("expected {expected}, found {}", self.node.kind()))
    }

    /// The value as a string.
    pub(crate) fn str(&self) -> Result<&'a str> {
        match self.node {
            Node::Str(s) => Ok(s),
            _ => Err(self.wrong_kind("a string")),
        }
    }

    /// The value as a boolean.
    pub(crate) fn bool(&self) -> Result<bool> {
        match self.node {
            Node::Bool(b) => Ok(*b),
            _ => Err(self.wrong_kind("true or false")),
        }
    }

    /// The value as a whole number from 0 to `u64::MAX`.
    pub(crate) fn u64(&self) -> Result<u64> {
        match self.node {
            Node::Int(i) => u64::try_from(*i)
                .map_err(|_| self.error(format!("{i} is out of range (0 to {})", u64::MAX))),
            _ => Err(self.wrong_kind("a whole number")),
        }
    }

    /// The value as a whole number from `i64::MIN` to `i64::MAX`.
    pub(crate) fn i64(&self) -> Result<i64> {
        match self.node {
            Node::Int(i) => i64::try_from(*i).map_err(|_| {
                self.error(format!(
                    "{i} is out of range ({} to {})",
                    i64::MIN,
                    i64::MAX
                ))
            }),
            _ => Err(self.wrong_kind("a whole number")),
        }
    }

    /// The value as a list of fields, each with its own path.
    pub(crate) fn seq(&self) -> Result<Vec<Field<'a>>> {
        match self.node {
            Node::Seq(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, node)| Field {
                    file: self.file,
                    path: index_path(&self.path, i),
                    node,
                })
                .collect()),
            _ => Err(self.wrong_kind("a list")),
        }
    }

    /// The value as a map whose keys are fields.
    pub(crate) fn obj(&self) -> Result<Obj<'a>> {
        match self.node {
            Node::Map(entries) => Ok(Obj {
                file: self.file,
                path: self.path.clone(),
                entries,
                used: vec![false; entries.len()],
            }),
            _ => Err(self.wrong_kind("a map of fields")),
        }
    }

    /// The entries of a map whose keys are data (file names), each with
    /// its path (`AdditionalFiles["a.txt"]`).
    pub(crate) fn entries(&self) -> Result<Vec<(&'a str, Field<'a>)>> {
        match self.node {
            Node::Map(entries) => Ok(entries
                .iter()
                .map(|(k, node)| {
                    (
                        k.as_str(),
                        Field {
                            file: self.file,
                            path: quoted_path(&self.path, k),
                            node,
                        },
                    )
                })
                .collect()),
            _ => Err(self.wrong_kind("a map")),
        }
    }

    /// Whether the value asks for nothing: null, `false`, `0`, an empty
    /// string, list or map.
    pub(crate) fn is_empty(&self) -> bool {
        match self.node {
            Node::Null => true,
            Node::Bool(b) => !b,
            Node::Int(i) => *i == 0,
            Node::Float(f) => *f == 0.0,
            Node::Str(s) => s.is_empty(),
            Node::Seq(v) => v.is_empty(),
            Node::Map(m) => m.is_empty(),
        }
    }
}

/// A map whose keys are fields: each is taken at most once, and
/// [`Obj::finish`] refuses the keys nobody took.
pub(crate) struct Obj<'a> {
    file: &'a Path,
    path: String,
    entries: &'a [(String, Node)],
    used: Vec<bool>,
}

impl<'a> Obj<'a> {
    /// The path of one of its keys.
    pub(crate) fn path_of(&self, key: &str) -> String {
        key_path(&self.path, key)
    }

    /// An error about one of its keys (present or missing).
    pub(crate) fn error_at(&self, key: &str, message: impl Into<String>) -> Error {
        error::config(self.file, self.path_of(key), message)
    }

    /// The value of `key`, marking it read; `None` when absent or null
    /// (both parsers' callers treat an explicit null as "not given").
    pub(crate) fn get(&mut self, key: &str) -> Option<Field<'a>> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        self.used[i] = true;
        let node = &self.entries[i].1;
        if *node == Node::Null {
            return None;
        }
        Some(Field {
            file: self.file,
            path: self.path_of(key),
            node,
        })
    }

    /// The value of `key`, which must be there.
    pub(crate) fn require(&mut self, key: &str) -> Result<Field<'a>> {
        self.get(key)
            .ok_or_else(|| self.error_at(key, "required field is missing"))
    }

    /// An optional string.
    pub(crate) fn opt_str(&mut self, key: &str) -> Result<Option<&'a str>> {
        self.get(key).map(|v| v.str()).transpose()
    }

    /// Refuses `key` when it is given at all, with `message`.
    pub(crate) fn refuse(&mut self, key: &str, message: &str) -> Result<()> {
        match self.entries.iter().position(|(k, _)| k == key) {
            Some(i) => {
                self.used[i] = true;
                Err(self.error_at(key, message))
            }
            None => Ok(()),
        }
    }

    /// Refuses `key` when its value asks for something (see
    /// [`Field::is_empty`]), with `message`.
    pub(crate) fn refuse_unless_empty(&mut self, key: &str, message: &str) -> Result<()> {
        match self.get(key) {
            Some(v) if !v.is_empty() => Err(v.error(message)),
            _ => Ok(()),
        }
    }

    /// Every key not read is an error naming the first and listing the rest.
    pub(crate) fn finish(self) -> Result<()> {
        let unknown: Vec<&str> = self
            .entries
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|((k, _), _)| k.as_str())
            .collect();
        match unknown.split_first() {
            None => Ok(()),
            Some((first, [])) => Err(self.error_at(first, "unknown field")),
            Some((first, rest)) => Err(self.error_at(
                first,
                format!("unknown field (and also: {})", rest.join(", ")),
            )),
        }
    }
}
