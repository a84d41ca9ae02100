//! CloudFormation's intrinsic functions as the template's policies use them (`Ref`, `GetAtt`,
//! `Sub`, `If`, `Select`, `Split`, `Join`, and the conditions' `Equals`/`Not`/`And`/`Or`),
//! evaluated against the local stack: its resources, the parameters' local values and the
//! pseudo parameters of the local account.

use std::collections::HashMap;

use serde_yaml::Value;

use crate::DevError;
use crate::resources::LocalResources;
use crate::template::Template;

/// moto's default account and the local stack's region.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub struct Resolver {
    refs: HashMap<String, String>,
    arns: HashMap<String, String>,
    conditions: HashMap<String, Value>,
}

fn err(what: impl std::fmt::Display) -> DevError {
    DevError::Template(format!("policy: {what}"))
}

/// `(Ref | Fn::Name, argument)` of a short (`!Sub`) or long (`Fn::Sub:`) intrinsic.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let full = if name == "Ref" || name == "Condition" {
                name.to_string()
            } else {
                format!("Fn::{name}")
            };
            Some((full, &t.value))
        }
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next()?;
            let k = k.as_str()?;
            (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then(|| (k.to_string(), arg))
        }
        _ => None,
    }
}

fn args(v: &Value) -> &[Value] {
    v.as_sequence().map_or(&[][..], Vec::as_slice)
}

impl Resolver {
    pub fn new(template: &Template, local: &LocalResources) -> Self {
        let mut refs: HashMap<String, String> = local.parameters.clone();
        refs.extend(local.refs.clone());
        for (id, _) in template.resources_of_type("AWS::SecretsManager::Secret") {
            // `Ref` of a secret is its ARN, which ends in six characters AWS picks.
            refs.entry(id.clone()).or_insert_with(|| {
                format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{id}-??????")
            });
        }
        for (k, v) in [
            ("AWS::Partition", "aws"),
            ("AWS::Region", REGION),
            ("AWS::AccountId", ACCOUNT),
            ("AWS::StackName", "local"),
            ("AWS::URLSuffix", "amazonaws.com"),
        ] {
            refs.insert(k.to_string(), v.to_string());
        }
        Self {
            refs,
            arns: local.arns.clone(),
            conditions: template.conditions(),
        }
    }

    /// The strings a value stands for: none (`AWS::NoValue`), one, or a list's.
    pub fn strings(&self, v: &Value) -> Result<Vec<String>, DevError> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Number(n) => Ok(vec![n.to_string()]),
            Value::Sequence(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.strings(item)?);
                }
                Ok(out)
            }
            _ => match intrinsic(v) {
                Some((name, arg)) => self.function(&name, arg),
                None => Err(err(format!("cannot read {v:?}"))),
            },
        }
    }

    /// A value that may be a whole `!If` (a statement present under a condition): the chosen
    /// branch, or `None` for `AWS::NoValue`.
    pub fn choose<'a>(&self, v: &'a Value) -> Result<Option<&'a Value>, DevError> {
        match intrinsic(v) {
            Some((name, arg)) if name == "Fn::If" => self.branch(arg),
            Some((name, arg)) if name == "Ref" && arg.as_str() == Some("AWS::NoValue") => Ok(None),
            _ => Ok(Some(v)),
        }
    }

    /// `If [condition, yes, no]`: the branch the condition picks, itself chosen.
    fn branch<'a>(&self, arg: &'a Value) -> Result<Option<&'a Value>, DevError> {
        match args(arg) {
            [cond, yes, no] => {
                let chosen = if self.condition(&self.one(cond)?, 0)? {
                    yes
                } else {
                    no
                };
                self.choose(chosen)
            }
            _ => Err(err(format!("If {arg:?}"))),
        }
    }

    fn one(&self, v: &Value) -> Result<String, DevError> {
        let mut all = self.strings(v)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            n => Err(err(format!("{n} values where one was expected: {v:?}"))),
        }
    }

    fn function(&self, name: &str, arg: &Value) -> Result<Vec<String>, DevError> {
        let a = args(arg);
        match (name, a) {
            ("Ref", _) if arg.as_str() == Some("AWS::NoValue") => Ok(Vec::new()),
            ("Ref", _) => Ok(vec![self.reference(&self.one(arg)?)?]),
            ("Fn::GetAtt", _) => Ok(vec![self.get_att(arg)?]),
            ("Fn::Sub", _) => Ok(vec![self.sub(arg)?]),
            ("Fn::If", _) => match self.branch(arg)? {
                Some(chosen) => self.strings(chosen),
                None => Ok(Vec::new()),
            },
            ("Fn::Select", [index, list]) => {
                let i: usize = self.one(index)?.parse().map_err(err)?;
                let items = self.strings(list)?;
                let item = items
                    .get(i)
                    .ok_or_else(|| err(format!("Select {i} of {items:?}")))?;
                Ok(vec![item.clone()])
            }
            ("Fn::Split", [delim, text]) => {
                let text = self.one(text)?;
                Ok(text.split(&self.one(delim)?).map(str::to_string).collect())
            }
            ("Fn::Join", [delim, list]) => Ok(vec![self.strings(list)?.join(&self.one(delim)?)]),
            _ => Err(err(format!("{name} {arg:?} is not understood locally"))),
        }
    }

    fn reference(&self, name: &str) -> Result<String, DevError> {
        self.refs
            .get(name)
            .cloned()
            .ok_or_else(|| err(format!("no local value for Ref {name}")))
    }

    fn get_att(&self, arg: &Value) -> Result<String, DevError> {
        let path = match arg {
            Value::String(s) => s.clone(),
            _ => self.strings(arg)?.join("."),
        };
        match path.split_once('.') {
            Some((id, "Arn")) => self
                .arns
                .get(id)
                .cloned()
                .ok_or_else(|| err(format!("no local ARN for {id}"))),
            _ => Err(err(format!("GetAtt {path} is not understood locally"))),
        }
    }

    /// `${Name}`, `${Resource.Arn}` and `${!Literal}`, with an optional map of variables.
    fn sub(&self, arg: &Value) -> Result<String, DevError> {
        let (text, vars) = match arg {
            Value::Sequence(s) if s.len() == 2 => (self.one(&s[0])?, Some(&s[1])),
            _ => (self.one(arg)?, None),
        };
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| err(format!("unclosed ${{ in {text}")))?;
            let var = &rest[start + 2..start + end];
            out.push_str(&self.sub_var(var, vars)?);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn sub_var(&self, var: &str, vars: Option<&Value>) -> Result<String, DevError> {
        if let Some(literal) = var.strip_prefix('!') {
            return Ok(format!("${{{literal}}}"));
        }
        if let Some(v) = vars.and_then(|m| m.get(var)) {
            return self.one(v);
        }
        if var.contains('.') && !var.starts_with("AWS::") {
            return self.get_att(&Value::String(var.to_string()));
        }
        self.reference(var)
    }

    /// A named condition, from the parameters' local values.
    fn condition(&self, name: &str, depth: usize) -> Result<bool, DevError> {
        let body = self
            .conditions
            .get(name)
            .ok_or_else(|| err(format!("no condition {name}")))?;
        self.truth(body, depth + 1)
    }

    fn truth(&self, v: &Value, depth: usize) -> Result<bool, DevError> {
        if depth > 16 {
            return Err(err("conditions nest too deep"));
        }
        let Some((name, arg)) = intrinsic(v) else {
            return Err(err(format!("condition {v:?}")));
        };
        let a = args(arg);
        match (name.as_str(), a) {
            ("Fn::Equals", [x, y]) => Ok(self.one(x)? == self.one(y)?),
            ("Fn::Not", [x]) => Ok(!self.truth(x, depth + 1)?),
            ("Fn::And", items) => items
                .iter()
                .try_fold(true, |acc, x| Ok(acc && self.truth(x, depth + 1)?)),
            ("Fn::Or", items) => items
                .iter()
                .try_fold(false, |acc, x| Ok(acc || self.truth(x, depth + 1)?)),
            ("Condition", _) => self.condition(&self.one(arg)?, depth),
            _ => Err(err(format!("condition {name} is not understood locally"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> Resolver {
        let template = Template::parse(
            r#"
Parameters:
  AppArn: {Type: String, Default: ""}
Conditions:
  HasApp: !Not [!Equals [!Ref AppArn, ""]]
  NoApp: !Not [!Condition HasApp]
Resources:
  S: {Type: AWS::SecretsManager::Secret}
"#,
        )
        .unwrap();
        let mut local = LocalResources::default();
        local.parameters.insert(
            "AppArn".into(),
            format!("arn:aws:sns:{REGION}:{ACCOUNT}:app/APNS/local"),
        );
        local
            .arns
            .insert("T".into(), "arn:aws:dynamodb:r:a:table/T".into());
        Resolver::new(&template, &local)
    }

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn policy_values_resolve_to_local_arns() {
        let r = resolver();
        for (text, want) in [
            ("!GetAtt T.Arn", vec!["arn:aws:dynamodb:r:a:table/T"]),
            (
                "!Sub ${T.Arn}/index/gsi1",
                vec!["arn:aws:dynamodb:r:a:table/T/index/gsi1"],
            ),
            (
                "!Sub arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:endpoint/*",
                vec!["arn:aws:sns:us-east-1:123456789012:endpoint/*"],
            ),
            (
                "!Ref S",
                vec!["arn:aws:secretsmanager:us-east-1:123456789012:secret:S-??????"],
            ),
            (
                "!If [HasApp, !Ref AppArn, !Ref AWS::NoValue]",
                vec!["arn:aws:sns:us-east-1:123456789012:app/APNS/local"],
            ),
            ("!If [NoApp, x, !Ref AWS::NoValue]", vec![]),
            (
                "!Sub ['arn:aws:sns:${AWS::Region}:${AWS::AccountId}:endpoint/${App}/*', {App: !Select [1, !Split [':app/', !Ref AppArn]]}]",
                vec!["arn:aws:sns:us-east-1:123456789012:endpoint/APNS/local/*"],
            ),
            ("{'Fn::Join': ['-', [a, b]]}", vec!["a-b"]),
            ("!Sub '${!Literal}'", vec!["${Literal}"]),
        ] {
            assert_eq!(r.strings(&yaml(text)).unwrap(), want, "{text}");
        }
        for bad in [
            "!Ref Missing",
            "!GetAtt T.StreamArn",
            "!FindInMap [a, b, c]",
            "!If [Nope, a, b]",
        ] {
            assert!(r.strings(&yaml(bad)).is_err(), "{bad}");
        }
    }
}
