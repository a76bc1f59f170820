//! smoke
use jingxi_sdk::{Manifest, Plugin};
pub struct Crm;
impl Plugin for Crm {
    fn manifest() -> Manifest { Manifest::new(r#"{"id":"crm"}"#) }
}
jingxi_sdk::register_plugin!(Crm);
