//! The service account postinst makes.

use anyhow::{Context, Result, ensure};

use super::USER;
use super::commands::getent;

/// The service account as `getent passwd` shows it.
pub(super) struct Account {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) home: String,
}

/// A system user and its own group, home /var/lib/citysense, no login shell.
pub(super) fn check_account() -> Result<Account> {
    let passwd = getent("passwd", USER)?.context("postinst made no user citysense")?;
    // name:password:uid:gid:gecos:home:shell
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    ensure!(fields.len() == 7, "getent passwd: {passwd}");
    let uid: u32 = fields[2].parse()?;
    let gid: u32 = fields[3].parse()?;
    let account = Account {
        uid,
        gid,
        home: fields[5].to_owned(),
    };
    // Debian's system range (adduser.conf FIRST_SYSTEM_UID..LAST_SYSTEM_UID).
    ensure!(uid < 1000, "{USER} is not a system user: {passwd}");
    ensure!(account.home == "/var/lib/citysense", "home: {passwd}");
    ensure!(fields[6].ends_with("nologin"), "login shell: {passwd}");
    let group = getent("group", USER)?.context("postinst made no group citysense")?;
    ensure!(
        group.split(':').nth(2) == Some(&gid.to_string()),
        "the user's group is not citysense: {passwd} / {group}"
    );
    eprintln!("account: {}", passwd.trim());
    Ok(account)
}
