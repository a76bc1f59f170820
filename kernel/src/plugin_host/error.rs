//! Errors of the plugin host: what went wrong loading a plugin or running one of its hooks.

use std::path::PathBuf;

/// The result type of the plugin host.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why loading a plugin or calling a hook failed.
///
/// Every variant that concerns a running plugin names the plugin (its manifest id, or
/// `sha256:<prefix>` before the manifest is known) and the hook, so a log line or an API error is
/// enough to find the culprit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a plugin this kernel can run: not WebAssembly, a core module rather than
    /// a component, a component that fails to compile, or one built against a contract version
    /// this kernel does not support. `message` names the problem.
    #[error("invalid plugin: {message}")]
    InvalidWasm {
        /// What is wrong, e.g. "not a WebAssembly component".
        message: String,
    },

    /// An input is over its configured size cap; nothing was run.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// What was too large: "plugin wasm" or "hook input".
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The cap in bytes.
        limit: usize,
    },

    /// The plugin trapped, panicked, called an import the sandbox does not provide, returned
    /// output that breaks the contract, or answered with its own `hook-error`.
    #[error("plugin {plugin} failed in {hook}: {message}")]
    PluginFailed {
        /// The plugin id.
        plugin: String,
        /// The hook that failed, e.g. "validate".
        hook: &'static str,
        /// What happened, for operators.
        message: String,
    },

    /// The plugin refused its input (`hook-error::invalid-input`): a rule or a workflow guard
    /// said no. `message` is the plugin's, meant for the user.
    #[error("{message}")]
    Refused {
        /// The plugin id.
        plugin: String,
        /// The hook that refused, e.g. "on-transition".
        hook: &'static str,
        /// The plugin's explanation.
        message: String,
    },

    /// The plugin hit one of the sandbox limits; only this call failed.
    #[error("plugin {plugin}: {hook} exceeded its limit on {limit}")]
    LimitExceeded {
        /// The plugin id.
        plugin: String,
        /// The hook that was stopped.
        hook: &'static str,
        /// The limit with its value: "time (50 ms)", "memory (64 MiB)", "output size (1 MiB)"
        /// or "fuel (10000000)".
        limit: String,
    },

    /// All sandbox slots are taken by other calls; the caller may retry later.
    #[error("plugin {plugin}: cannot run {hook}, all {slots} sandbox slots are busy")]
    Busy {
        /// The plugin id.
        plugin: String,
        /// The hook that was not run.
        hook: &'static str,
        /// The number of slots (`max_concurrent_calls`).
        slots: u32,
    },

    /// The artifact cache directory cannot be used.
    #[error("plugin cache at {}: {source}", path.display())]
    Cache {
        /// The directory or file concerned.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },

    /// The configuration is unusable or the wasm engine could not start.
    #[error("plugin host cannot start: {message}")]
    Setup {
        /// What is wrong.
        message: String,
    },
}
