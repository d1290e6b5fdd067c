//! The `settings!` macro: turns the one list of keys in the parent module into the
//! [`Config`](super::Config) sections, the [`ServerArgs`](super::ServerArgs) flags, the
//! figment layer of those flags, the checks, and the [`KEYS`](super::KEYS) table. A macro,
//! because the flags need one field per key and the TOML file nests them in sections; written
//! by hand those were three lists kept in step.

/// One configuration key as the README documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Its place in the TOML file, `section.name` or `name`.
    pub toml: &'static str,
    /// Its environment variable.
    pub env: &'static str,
    /// The name of its flag's field; the flag is this in kebab case.
    pub arg: &'static str,
}

impl Key {
    /// The command-line flag, `--kebab-case`.
    pub fn flag(&self) -> String {
        format!("--{}", self.arg.replace('_', "-"))
    }
}

macro_rules! settings {
    (
        top {
            $(
                $(#[doc = $tdoc:literal])*
                $tfield:ident : $tty:ty = $tdefault:expr
                    => $targ:ident, $tenv:literal, $tvalue:literal $(, check $tcheck:ident)? ;
            )*
        }
        $(
            $section:ident : $Section:ident {
                $(
                    $(#[doc = $doc:literal])*
                    $(#[arg($($arg_extra:tt)*)])?
                    $(#[serde($($serde_extra:tt)*)])?
                    $field:ident : $ty:ty = $default:expr
                        => $arg:ident, $env:literal, $value:literal $(, check $check:ident)? ;
                )*
            }
        )*
    ) => {
        pub use declare::Key;

        /// The resolved configuration; its shape is the TOML file's.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Config {
            $( $(#[doc = $tdoc])* pub $tfield: $tty, )*
            $( pub $section: $Section, )*
        }

        impl Default for Config {
            fn default() -> Self {
                Self {
                    $( $tfield: $tdefault, )*
                    $( $section: $Section::default(), )*
                }
            }
        }

        $(
            #[doc = concat!("The `[", stringify!($section), "]` section.")]
            #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
            #[serde(default, deny_unknown_fields)]
            pub struct $Section {
                $(
                    $(#[doc = $doc])*
                    $(#[serde($($serde_extra)*)])?
                    pub $field: $ty,
                )*
            }

            impl Default for $Section {
                fn default() -> Self {
                    Self { $( $field: $default, )* }
                }
            }
        )*

        /// The server's flags, shared by `slipway server` and `slipway up`. clap also reads
        /// each flag's `SLIPWAY_*` variable, for `--help` and to refuse a bad value as a usage
        /// error as before; it sits in the same place as the figment environment layer of
        /// [`Config::resolve`] (above the file, below the flag), which serves callers that
        /// build these arguments in code.
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct ServerArgs {
            /// A TOML configuration file (keys as in the README's configuration reference).
            #[arg(long, env = "SLIPWAY_CONFIG", value_name = "FILE")]
            pub config: Option<std::path::PathBuf>,
            $(
                $(#[doc = $tdoc])*
                #[arg(long, env = $tenv, value_name = $tvalue)]
                pub $targ: Option<$tty>,
            )*
            $($(
                $(#[doc = $doc])*
                #[arg(long, env = $env, value_name = $value $(, $($arg_extra)*)?)]
                pub $arg: Option<$ty>,
            )*)*
        }

        impl ServerArgs {
            /// `figment` with the flags given on top.
            fn merge_flags(&self, mut figment: figment::Figment) -> figment::Figment {
                $(
                    if let Some(value) = &self.$targ {
                        figment = figment.merge(figment::providers::Serialized::default(
                            stringify!($tfield),
                            value,
                        ));
                    }
                )*
                $($(
                    if let Some(value) = &self.$arg {
                        figment = figment.merge(figment::providers::Serialized::default(
                            concat!(stringify!($section), ".", stringify!($field)),
                            value,
                        ));
                    }
                )*)*
                figment
            }
        }

        /// Every key, in the order declared.
        pub const KEYS: &[Key] = &[
            $( Key { toml: stringify!($tfield), env: $tenv, arg: stringify!($targ) }, )*
            $($(
                Key {
                    toml: concat!(stringify!($section), ".", stringify!($field)),
                    env: $env,
                    arg: stringify!($arg),
                },
            )*)*
        ];

        impl Config {
            /// Refuses the first value outside what its key allows.
            fn check(&self) -> Result<(), ConfigError> {
                let refused = |key: Key, reason: String| ConfigError::Invalid {
                    key: key.toml,
                    flag: key.flag(),
                    env: key.env,
                    reason,
                };
                $($(
                    if let Err(reason) = $tcheck(&self.$tfield) {
                        let key = Key { toml: stringify!($tfield), env: $tenv, arg: stringify!($targ) };
                        return Err(refused(key, reason));
                    }
                )?)*
                $($($(
                    if let Err(reason) = $check(&self.$section.$field) {
                        let key = Key {
                            toml: concat!(stringify!($section), ".", stringify!($field)),
                            env: $env,
                            arg: stringify!($arg),
                        };
                        return Err(refused(key, reason));
                    }
                )?)*)*
                Ok(())
            }
        }
    };
}
