//! One value of a sweep axis (an integer, a number, a switch or a name), as written in the
//! sweep description and in every result record.

use std::fmt;

/// A scalar from the sweep description.
#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl Value {
    /// The value of a YAML scalar, or `None` for a list or a mapping.
    pub fn from_json(v: &serde_json::Value) -> Option<Value> {
        match v {
            serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
            serde_json::Value::Number(n) => Some(match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64()?),
            }),
            serde_json::Value::String(s) => Some(Value::Str(s.clone())),
            _ => None,
        }
    }

    /// The value as it appears in a result record.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => (*i).into(),
            Value::Float(f) => (*f).into(),
            Value::Bool(b) => (*b).into(),
            Value::Str(s) => s.clone().into(),
        }
    }

    /// The value as a number, when it is one (a switch counts as 0 or 1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Str(_) => None,
        }
    }
}

/// Numbers compare by value (`200` equals `200.0`); names and switches by identity.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                self.as_f64() == other.as_f64()
            }
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => write!(f, "{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_and_print_plainly() {
        assert_eq!(Value::Int(200), Value::Float(200.0));
        assert_ne!(Value::Int(1), Value::Bool(true));
        assert_ne!(Value::Str("1".into()), Value::Int(1));
        assert_eq!(Value::Float(200.0).to_string(), "200");
        assert_eq!(Value::Float(0.5).to_string(), "0.5");
        let v = Value::from_json(&serde_json::json!(3)).unwrap();
        assert!(matches!(v, Value::Int(3)));
        assert!(Value::from_json(&serde_json::json!([1])).is_none());
    }
}
