//! Stable public error codes, sent to clients as `extensions.code`.

/// What a client can match on. The message may change; the code does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    ValidationFailed,
    Forbidden,
    NotFound,
    Conflict,
    PluginFailed,
    LimitExceeded,
    Unauthenticated,
    BadRequest,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ValidationFailed => "VALIDATION_FAILED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::PluginFailed => "PLUGIN_FAILED",
            Code::LimitExceeded => "LIMIT_EXCEEDED",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::BadRequest => "BAD_REQUEST",
            Code::Internal => "INTERNAL",
        }
    }
}

/// Implemented by every error that reaches a client.
pub trait ErrorCode {
    fn code(&self) -> Code;
}
