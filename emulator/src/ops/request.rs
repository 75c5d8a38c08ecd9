//! What every operation is given (the `Caller`) and gives back (`Done`).

use serde_json::Value;

/// What a successful operation returns, and what the journal notes about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub body: Value,
    pub channel_arn: Option<String>,
    pub activation_code: Option<String>,
}

impl Done {
    pub(super) fn new(body: Value, channel_arn: Option<String>) -> Self {
        Self {
            body,
            channel_arn,
            activation_code: None,
        }
    }
}

/// Who called and where: the signing region decides which resources are visible.
pub struct Caller<'a> {
    pub region: &'a str,
    pub account_id: &'a str,
}
