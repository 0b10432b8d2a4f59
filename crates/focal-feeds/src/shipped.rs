//! The definitions shipped in the repository's `feeds/` folder, built into the binary so that an
//! installed `focal` can suggest one when a file does not fit the definition it was given.

use crate::definition::Feed;

/// (file name, TOML text) of every shipped definition.
pub const SHIPPED: [(&str, &str); 37] = [
    (
        "abusech-feodo-ipblocklist-txt.toml",
        include_str!("../../../feeds/abusech-feodo-ipblocklist-txt.toml"),
    ),
    (
        "abusech-feodo-ipblocklist.toml",
        include_str!("../../../feeds/abusech-feodo-ipblocklist.toml"),
    ),
    (
        "abusech-sslbl-ip-aggressive.toml",
        include_str!("../../../feeds/abusech-sslbl-ip-aggressive.toml"),
    ),
    (
        "abusech-sslbl-ip.toml",
        include_str!("../../../feeds/abusech-sslbl-ip.toml"),
    ),
    (
        "abusech-threatfox-domains.toml",
        include_str!("../../../feeds/abusech-threatfox-domains.toml"),
    ),
    (
        "abusech-threatfox-ipport.toml",
        include_str!("../../../feeds/abusech-threatfox-ipport.toml"),
    ),
    (
        "abusech-threatfox-urls.toml",
        include_str!("../../../feeds/abusech-threatfox-urls.toml"),
    ),
    (
        "abusech-urlhaus-hostfile.toml",
        include_str!("../../../feeds/abusech-urlhaus-hostfile.toml"),
    ),
    (
        "abusech-urlhaus.toml",
        include_str!("../../../feeds/abusech-urlhaus.toml"),
    ),
    (
        "blocklist-de-apache.toml",
        include_str!("../../../feeds/blocklist-de-apache.toml"),
    ),
    (
        "blocklist-de-bots.toml",
        include_str!("../../../feeds/blocklist-de-bots.toml"),
    ),
    (
        "blocklist-de-bruteforcelogin.toml",
        include_str!("../../../feeds/blocklist-de-bruteforcelogin.toml"),
    ),
    (
        "blocklist-de-ftp.toml",
        include_str!("../../../feeds/blocklist-de-ftp.toml"),
    ),
    (
        "blocklist-de-imap.toml",
        include_str!("../../../feeds/blocklist-de-imap.toml"),
    ),
    (
        "blocklist-de-ircbot.toml",
        include_str!("../../../feeds/blocklist-de-ircbot.toml"),
    ),
    (
        "blocklist-de-mail.toml",
        include_str!("../../../feeds/blocklist-de-mail.toml"),
    ),
    (
        "blocklist-de-sip.toml",
        include_str!("../../../feeds/blocklist-de-sip.toml"),
    ),
    (
        "blocklist-de-ssh.toml",
        include_str!("../../../feeds/blocklist-de-ssh.toml"),
    ),
    (
        "blocklist-de-strongips.toml",
        include_str!("../../../feeds/blocklist-de-strongips.toml"),
    ),
    (
        "blocklist-de.toml",
        include_str!("../../../feeds/blocklist-de.toml"),
    ),
    (
        "dataplane-dnsrd.toml",
        include_str!("../../../feeds/dataplane-dnsrd.toml"),
    ),
    (
        "dataplane-dnsrdany.toml",
        include_str!("../../../feeds/dataplane-dnsrdany.toml"),
    ),
    (
        "dataplane-dnsversion.toml",
        include_str!("../../../feeds/dataplane-dnsversion.toml"),
    ),
    (
        "dataplane-proto41.toml",
        include_str!("../../../feeds/dataplane-proto41.toml"),
    ),
    (
        "dataplane-sipinvitation.toml",
        include_str!("../../../feeds/dataplane-sipinvitation.toml"),
    ),
    (
        "dataplane-sipquery.toml",
        include_str!("../../../feeds/dataplane-sipquery.toml"),
    ),
    (
        "dataplane-sipregistration.toml",
        include_str!("../../../feeds/dataplane-sipregistration.toml"),
    ),
    (
        "dataplane-smtpdata.toml",
        include_str!("../../../feeds/dataplane-smtpdata.toml"),
    ),
    (
        "dataplane-smtpgreet.toml",
        include_str!("../../../feeds/dataplane-smtpgreet.toml"),
    ),
    (
        "dataplane-sshclient.toml",
        include_str!("../../../feeds/dataplane-sshclient.toml"),
    ),
    (
        "dataplane-sshpwauth.toml",
        include_str!("../../../feeds/dataplane-sshpwauth.toml"),
    ),
    (
        "dataplane-telnetlogin.toml",
        include_str!("../../../feeds/dataplane-telnetlogin.toml"),
    ),
    (
        "dataplane-vncrfb.toml",
        include_str!("../../../feeds/dataplane-vncrfb.toml"),
    ),
    (
        "dataplane.toml",
        include_str!("../../../feeds/dataplane.toml"),
    ),
    (
        "spamhaus-asndrop.toml",
        include_str!("../../../feeds/spamhaus-asndrop.toml"),
    ),
    (
        "spamhaus-drop-json.toml",
        include_str!("../../../feeds/spamhaus-drop-json.toml"),
    ),
    (
        "spamhaus-drop.toml",
        include_str!("../../../feeds/spamhaus-drop.toml"),
    ),
];

/// The shipped definitions, compiled (each one is checked by a test, so none is skipped).
pub fn feeds() -> Vec<Feed> {
    SHIPPED
        .iter()
        .filter_map(|(file, text)| Feed::from_toml(text, &format!("feeds/{file}")).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_shipped_definition_is_built_in_and_compiles() {
        let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../feeds"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
            .count();
        assert_eq!(super::SHIPPED.len(), on_disk, "add the new file to SHIPPED");
        assert_eq!(super::feeds().len(), on_disk);
    }
}
