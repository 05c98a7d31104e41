//! `${VAR}` substitution: values from the environment and from the file's `vars`.
//!
//! Resolution of `${NAME}` (and `$!{NAME}`, DevSpace's "keep as string" form, which is the
//! same here because every value ferry substitutes into is read as text):
//! 1. the environment (the `env` function given to the loader), unless the variable is
//!    defined with `source: none`;
//! 2. the definition's `value`, `default`, or the shorthand value (`vars: {NAME: value}`);
//!    such values may themselves contain `${OTHER}`;
//! 3. DevSpace's predefined `DEVSPACE_NAME` / `devspace.name` (the file's `name`) and
//!    `DEVSPACE_USER_HOME` (`HOME`); `DEVSPACE_NAMESPACE` is handled by the namespace
//!    fields (unset = the current context's namespace);
//! 4. otherwise an error: ferry neither asks questions (`source: input`) nor runs commands
//!    (`command`, `source: command`) to compute a value.

use std::collections::HashMap;

/// How a variable may be resolved (DevSpace's `source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `all` (the default): environment, then default, then ask.
    All,
    /// `env`: environment, then default.
    Env,
    /// `none`: the default only.
    None,
    /// `input`: ask the user (ferry: environment, then default).
    Input,
    /// `command`: run a command (ferry: environment only).
    Command,
}

/// One variable definition from `vars`.
#[derive(Clone, Debug)]
pub(crate) struct Definition {
    /// `value`, `default` or the shorthand scalar, as text.
    pub value: Option<String>,
    /// `source`.
    pub source: Source,
    /// Whether a `command`/`commands` computes the value.
    pub command: bool,
}

/// The variables of one config file plus the environment.
pub(crate) struct Vars<'a> {
    pub definitions: HashMap<String, Definition>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The file's top-level `name`, for `${DEVSPACE_NAME}`.
    pub config_name: Option<String>,
}

/// A `${…}` reference that could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unresolved {
    /// The reference as written, e.g. `${IMAGE}`.
    pub reference: String,
    /// Why, as a sentence fragment.
    pub message: String,
}

/// How deep `${A}` → default `${B}` → … may nest before it counts as a cycle.
const MAX_DEPTH: usize = 16;

/// Splits `text` into literal parts and references. Each reference is
/// `(start byte, end byte, name)`. A `${` without a closing `}` is literal.
pub(crate) fn references(text: &str) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let open = if text[i..].starts_with("${") {
                Some(i + 2)
            } else if text[i..].starts_with("$!{") {
                Some(i + 3)
            } else {
                None
            };
            if let Some(open) = open {
                if let Some(close) = text[open..].find('}') {
                    let name = text[open..open + close].trim().to_string();
                    found.push((i, open + close + 1, name));
                    i = open + close + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    found
}

impl Vars<'_> {
    /// Replaces every `${NAME}` in `text`.
    pub fn substitute(&self, text: &str) -> Result<String, Unresolved> {
        self.substitute_at(text, &mut Vec::new())
    }

    fn substitute_at(&self, text: &str, stack: &mut Vec<String>) -> Result<String, Unresolved> {
        let refs = references(text);
        if refs.is_empty() {
            return Ok(text.to_string());
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (start, end, name) in refs {
            out.push_str(&text[last..start]);
            let value = self.resolve(&name, stack).map_err(|message| Unresolved {
                reference: text[start..end].to_string(),
                message,
            })?;
            out.push_str(&value);
            last = end;
        }
        out.push_str(&text[last..]);
        Ok(out)
    }

    /// The value of variable `name`, or why there is none.
    fn resolve(&self, name: &str, stack: &mut Vec<String>) -> Result<String, String> {
        if name.is_empty() {
            return Err("an empty variable name".to_string());
        }
        if stack.iter().any(|n| n == name) || stack.len() >= MAX_DEPTH {
            let mut chain = stack.clone();
            chain.push(name.to_string());
            return Err(format!(
                "variables refer to each other in a cycle ({})",
                chain.join(" → ")
            ));
        }
        let definition = self.definitions.get(name);
        let source = definition.map_or(Source::All, |d| d.source);
        if source != Source::None {
            if let Some(value) = (self.env)(name) {
                return Ok(value);
            }
        }
        if let Some(definition) = definition {
            if source != Source::Command {
                if let Some(value) = &definition.value {
                    stack.push(name.to_string());
                    let resolved = self.substitute_at(value, stack);
                    stack.pop();
                    return resolved.map_err(|inner| {
                        format!(
                            "the value of `{name}` refers to {}, which cannot be resolved: {}",
                            inner.reference, inner.message
                        )
                    });
                }
            }
            if definition.command || source == Source::Command {
                return Err(format!(
                    "`{name}` is computed by a command, and ferry runs no commands to resolve \
                     variables: set the environment variable {name}"
                ));
            }
            return Err(match source {
                Source::None => format!("`{name}` has `source: none` and no value"),
                Source::Env => format!(
                    "the environment variable {name} is not set and `{name}` has no default"
                ),
                _ => format!(
                    "`{name}` has no value or default and is not set in the environment \
                     (DevSpace would ask for it; ferry cannot ask): set the environment \
                     variable {name} or give it a default"
                ),
            });
        }
        match name {
            "DEVSPACE_NAME" | "devspace.name" => {
                if let Some(config_name) = &self.config_name {
                    return Ok(config_name.clone());
                }
            }
            "DEVSPACE_USER_HOME" | "devspace.userHome" => {
                if let Some(home) = (self.env)("HOME").or_else(|| (self.env)("USERPROFILE")) {
                    return Ok(home);
                }
            }
            _ => {}
        }
        if name.starts_with("runtime.") {
            return Err(format!(
                "`{name}` is a runtime variable that DevSpace sets while it runs; ferry does \
                 not know it"
            ));
        }
        Err(format!(
            "`{name}` is not defined in `vars` and not set in the environment"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FROM_ENV" => Some("env-value".to_string()),
            "BOTH" => Some("env-wins".to_string()),
            "HOME" => Some("/home/me".to_string()),
            _ => None,
        }
    }

    fn vars(defs: &[(&str, Option<&str>, Source, bool)]) -> Vars<'static> {
        Vars {
            definitions: defs
                .iter()
                .map(|(n, v, s, c)| {
                    (
                        n.to_string(),
                        Definition {
                            value: v.map(str::to_string),
                            source: *s,
                            command: *c,
                        },
                    )
                })
                .collect(),
            env: &env,
            config_name: Some("my-project".to_string()),
        }
    }

    #[test]
    fn finds_references() {
        assert_eq!(
            references("a${X}b$!{ Y }c${unclosed"),
            vec![(1, 5, "X".to_string()), (6, 13, "Y".to_string())]
        );
        assert!(references("$X and $(cmd)").is_empty());
    }

    #[test]
    fn environment_then_definition_then_predefined() {
        let v = vars(&[
            ("BOTH", Some("default"), Source::All, false),
            ("DEF", Some("${FROM_ENV}/x"), Source::All, false),
            ("STATIC", Some("static"), Source::None, false),
            ("BOTH_NONE", Some("kept"), Source::None, false),
        ]);
        assert_eq!(v.substitute("${FROM_ENV}").unwrap(), "env-value");
        assert_eq!(v.substitute("${BOTH}").unwrap(), "env-wins");
        assert_eq!(v.substitute("/app/${DEF}").unwrap(), "/app/env-value/x");
        assert_eq!(v.substitute("${STATIC}").unwrap(), "static");
        assert_eq!(v.substitute("${DEVSPACE_NAME}").unwrap(), "my-project");
        assert_eq!(v.substitute("${DEVSPACE_USER_HOME}").unwrap(), "/home/me");
        assert_eq!(v.substitute("no vars").unwrap(), "no vars");
    }

    #[test]
    fn errors_name_the_variable() {
        let v = vars(&[
            ("CMD", None, Source::All, true),
            ("ASK", None, Source::All, false),
            ("A", Some("${B}"), Source::All, false),
            ("B", Some("${A}"), Source::All, false),
        ]);
        let e = v.substitute("x${NOPE}").unwrap_err();
        assert_eq!(e.reference, "${NOPE}");
        assert!(e.message.contains("not defined"), "{}", e.message);
        assert!(v
            .substitute("${CMD}")
            .unwrap_err()
            .message
            .contains("command"));
        assert!(v
            .substitute("${ASK}")
            .unwrap_err()
            .message
            .contains("cannot ask"));
        assert!(v.substitute("${A}").unwrap_err().message.contains("cycle"));
        assert!(v
            .substitute("${runtime.images.app.tag}")
            .unwrap_err()
            .message
            .contains("runtime variable"));
    }
}
