//! Constraints on sweep points: small boolean expressions over axis names and description
//! fields, e.g. `array.rows * array.cols <= 1024` or `model != "vit-b16" or batch <= 8`.
//!
//! ```text
//! or   := and ("or" and)*            comparison := sum (("<"|"<="|">"|">="|"=="|"!=") sum)?
//! and  := not ("and" not)*           sum        := prod (("+"|"-") prod)*
//! not  := "not" not | comparison     prod       := unary (("*"|"/") unary)*
//! unary := "-" unary | number | "string" | name | "(" or ")"
//! ```
//! Names may contain dots (`dram.channels`); `true` and `false` are switches; `&&`, `||` and `!`
//! are accepted for and, or, not.

use super::value::Value;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Bool(bool),
    Str(String),
    Name(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Name(String),
    Sym(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && cs.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '.' || cs[i] == '_') {
                i += 1;
            }
            let text: String = cs[start..i].iter().filter(|&&c| c != '_').collect();
            out.push(Tok::Num(
                text.parse()
                    .map_err(|_| format!("`{text}` is not a number"))?,
            ));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_' || cs[i] == '.') {
                i += 1;
            }
            let word: String = cs[start..i].iter().collect();
            out.push(match word.as_str() {
                "and" => Tok::Sym("and"),
                "or" => Tok::Sym("or"),
                "not" => Tok::Sym("not"),
                _ => Tok::Name(word),
            });
        } else if c == '"' || c == '\'' {
            let end = cs[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or("a string is not closed")?;
            out.push(Tok::Str(cs[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else {
            let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
            let sym = ["<=", ">=", "==", "!=", "&&", "||"]
                .into_iter()
                .find(|s| *s == two);
            if let Some(s) = sym {
                out.push(Tok::Sym(match s {
                    "&&" => "and",
                    "||" => "or",
                    s => s,
                }));
                i += 2;
            } else {
                let s = match c {
                    '<' => "<",
                    '>' => ">",
                    '+' => "+",
                    '-' => "-",
                    '*' | '·' | '×' => "*",
                    '/' => "/",
                    '(' => "(",
                    ')' => ")",
                    '!' => "not",
                    '≤' => "<=",
                    '≥' => ">=",
                    _ => return Err(format!("unexpected `{c}`")),
                };
                out.push(Tok::Sym(s));
                i += 1;
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_sym(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some(Tok::Sym(s)) => Some(s),
            _ => None,
        }
    }

    fn eat(&mut self, syms: &[&'static str]) -> Option<&'static str> {
        let s = self.peek_sym().filter(|s| syms.contains(s))?;
        self.pos += 1;
        Some(s)
    }

    fn binary(
        &mut self,
        syms: &[&'static str],
        next: fn(&mut Parser) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut lhs = next(self)?;
        while let Some(s) = self.eat(syms) {
            let rhs = next(self)?;
            lhs = Expr::Bin(op_of(s), Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.binary(&["or"], Parser::and)
    }

    fn and(&mut self) -> Result<Expr, String> {
        self.binary(&["and"], Parser::not)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.eat(&["not"]).is_some() {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        let lhs = self.sum()?;
        match self.eat(&["<", "<=", ">", ">=", "==", "!="]) {
            Some(s) => Ok(Expr::Bin(op_of(s), Box::new(lhs), Box::new(self.sum()?))),
            None => Ok(lhs),
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        self.binary(&["+", "-"], Parser::prod)
    }

    fn prod(&mut self) -> Result<Expr, String> {
        self.binary(&["*", "/"], Parser::unary)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat(&["-"]).is_some() {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat(&["("]).is_some() {
            let e = self.or()?;
            return match self.eat(&[")"]) {
                Some(_) => Ok(e),
                None => Err("a `(` is not closed".into()),
            };
        }
        let tok = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match tok {
            Some(Tok::Num(n)) => Ok(Expr::Num(n)),
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::Name(n)) if n == "true" || n == "false" => Ok(Expr::Bool(n == "true")),
            Some(Tok::Name(n)) => Ok(Expr::Name(n)),
            Some(Tok::Sym(s)) => Err(format!("unexpected `{s}`")),
            None => Err("the expression ends too early".into()),
        }
    }
}

fn op_of(s: &str) -> Op {
    match s {
        "+" => Op::Add,
        "-" => Op::Sub,
        "*" => Op::Mul,
        "/" => Op::Div,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "==" => Op::Eq,
        "!=" => Op::Ne,
        "and" => Op::And,
        _ => Op::Or,
    }
}

/// Parses a constraint.
pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokenize(s)?,
        pos: 0,
    };
    let e = p.or()?;
    match p.toks.get(p.pos) {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?} after a complete expression")),
    }
}

impl Expr {
    /// Every name the expression reads.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Expr::Name(n) => vec![n],
            Expr::Num(_) | Expr::Bool(_) | Expr::Str(_) => vec![],
            Expr::Neg(e) | Expr::Not(e) => e.names(),
            Expr::Bin(_, a, b) => {
                let mut v = a.names();
                v.extend(b.names());
                v
            }
        }
    }

    /// Whether the constraint holds, reading names through `env`.
    pub fn holds(&self, env: &dyn Fn(&str) -> Option<Value>) -> Result<bool, String> {
        match self.eval(env)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!(
                "the constraint is the value `{other}`, not true or false"
            )),
        }
    }

    fn eval(&self, env: &dyn Fn(&str) -> Option<Value>) -> Result<Value, String> {
        let num = |e: &Expr| -> Result<f64, String> {
            let v = e.eval(env)?;
            v.as_f64().ok_or_else(|| format!("`{v}` is not a number"))
        };
        let boolean = |e: &Expr| -> Result<bool, String> {
            match e.eval(env)? {
                Value::Bool(b) => Ok(b),
                v => Err(format!("`{v}` is not true or false")),
            }
        };
        Ok(match self {
            Expr::Num(n) => Value::Float(*n),
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Name(n) => env(n).ok_or_else(|| format!("unknown name `{n}`"))?,
            Expr::Neg(e) => Value::Float(-num(e)?),
            Expr::Not(e) => Value::Bool(!boolean(e)?),
            Expr::Bin(Op::And, a, b) => Value::Bool(boolean(a)? && boolean(b)?),
            Expr::Bin(Op::Or, a, b) => Value::Bool(boolean(a)? || boolean(b)?),
            Expr::Bin(op @ (Op::Eq | Op::Ne), a, b) => {
                let (x, y) = (a.eval(env)?, b.eval(env)?);
                let same = match (&x, &y) {
                    (Value::Str(_), Value::Str(_)) => x == y,
                    (Value::Str(_), _) | (_, Value::Str(_)) => {
                        return Err(format!("cannot compare `{x}` with `{y}`"))
                    }
                    _ => x.as_f64() == y.as_f64(),
                };
                Value::Bool(same == (*op == Op::Eq))
            }
            Expr::Bin(op, a, b) => {
                let (x, y) = (num(a)?, num(b)?);
                match op {
                    Op::Add => Value::Float(x + y),
                    Op::Sub => Value::Float(x - y),
                    Op::Mul => Value::Float(x * y),
                    Op::Div => Value::Float(x / y),
                    Op::Lt => Value::Bool(x < y),
                    Op::Le => Value::Bool(x <= y),
                    Op::Gt => Value::Bool(x > y),
                    Op::Ge => Value::Bool(x >= y),
                    Op::Eq | Op::Ne | Op::And | Op::Or => unreachable!("matched above"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<Value> {
        Some(match name {
            "array.rows" => Value::Int(32),
            "array.cols" => Value::Int(16),
            "model" => Value::Str("resnet18".into()),
            "optimizations.interleave" => Value::Bool(false),
            _ => return None,
        })
    }

    fn check(text: &str, expected: Result<bool, &str>) {
        let got = parse(text).and_then(|e| e.holds(&env));
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{text}"),
            (Err(g), Err(e)) => assert!(g.contains(e), "{text}: {g}"),
            (g, e) => panic!("{text}: got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn constraints_evaluate() {
        check("array.rows * array.cols <= 1024", Ok(true));
        check("array.rows · array.cols ≤ 511", Ok(false));
        check("array.rows * array.cols < 512", Ok(false));
        check("array.rows / 2 == array.cols", Ok(true));
        check("1 + 2 * 3 == 7", Ok(true));
        check("(1 + 2) * 3 == 9", Ok(true));
        check("-array.rows < 0 and 1_024 == 1024", Ok(true));
        check("model == \"resnet18\" and array.rows >= 32", Ok(true));
        check("model != 'resnet18' or array.cols > 16", Ok(false));
        check("not optimizations.interleave", Ok(true));
        check(
            "!(array.rows == 32) || optimizations.interleave + 1 == 1",
            Ok(true),
        );
        check("optimizations.interleave == false", Ok(true));
        check("array.rows-1 == 31", Ok(true));
        check("array.rows", Err("not true or false"));
        check("model < 3", Err("not a number"));
        check("model == 3", Err("cannot compare"));
        check("array.depth > 1", Err("unknown name `array.depth`"));
        check("array.rows >", Err("ends too early"));
        check("(array.rows > 1", Err("not closed"));
        check("array.rows > 1 1", Err("after a complete expression"));
        check("array.rows # 1", Err("unexpected `#`"));
    }

    #[test]
    fn names_lists_what_is_read() {
        let e = parse("a.b * c <= 4 or d == \"x\"").unwrap();
        assert_eq!(e.names(), ["a.b", "c", "d"]);
    }
}
