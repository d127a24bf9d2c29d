//! The past alerts and rules views.

use anyhow::{Result, ensure};

use super::screens::no_english;
use super::{RESOLVED, WAIT};
use crate::support;

/// The past alerts view: the last week's alerts as the API lists them for the same query; the
/// reused-key alerts found by their parameter, the newest (ended by hand) first with the comment
/// in its transitions; a period that ends before it starts refused, with the API's message next
/// to the field.
pub(super) async fn check_past_alerts(page: &mut support::Page) -> Result<()> {
    page.eval("location.hash = '#past-alerts', true").await?;
    let shown = page
        .wait_for(
            "!document.querySelector('#past-alerts').hidden && document.querySelector('#overview').hidden \
             && Number(document.querySelector('#past-summary').dataset.count) >= 2 \
             && Number(document.querySelector('#past-summary').dataset.count)",
            WAIT,
        )
        .await?;
    let listed = page
        .eval("fetch('/api/v1/alerts?' + pastAlerts.query()).then(r => r.json()).then(a => a.length)")
        .await?;
    ensure!(
        shown == listed,
        "past alerts shown {shown}, the API lists {listed}"
    );
    no_english(page, "past alerts").await?;
    set_filters(page, "{ parameter: 'sequence_reset', state: 'resolved' }", true).await?;
    page.wait_for(
        "(() => { const rows = document.querySelectorAll('#past-table tbody tr[data-alert-id]'); \
           return rows.length >= 1 && [...rows].every(r => r.classList.contains('resolved')); })()",
        WAIT,
    )
    .await?;
    page.eval("document.querySelector('#past-table tbody tr[data-alert-id]').click(), true")
        .await?;
    let transitions = page
        .wait_for(
            "document.querySelector('#past-table tr.transitions-row li[data-kind=\"resolved\"]')?.textContent",
            WAIT,
        )
        .await?;
    ensure!(
        transitions.as_str().is_some_and(|t| t.contains(RESOLVED)),
        "the resolve's comment in the past alert's transitions: {transitions}"
    );
    set_filters(page, "{ from: i18n.today(1), to: i18n.today(-1) }", true).await?;
    let refused = page
        .wait_for(
            "document.querySelector('#past-filters [data-error-for=\"from\"]').textContent",
            WAIT,
        )
        .await?;
    ensure!(
        refused.as_str() == Some("phải trước thời điểm kết thúc"),
        "a backwards period refused, in Vietnamese, next to the field: {refused}"
    );
    set_filters(
        page,
        "{ from: i18n.today(-6), to: i18n.today(0), parameter: '', state: '' }",
        false,
    )
    .await?;
    Ok(())
}

/// Sets the past alerts' filters (`values`: a JavaScript object of field names and values), and
/// applies them when `submit`.
async fn set_filters(page: &mut support::Page, values: &str, submit: bool) -> Result<()> {
    page.eval(&format!(
        "(() => {{ const f = document.querySelector('#past-filters'); \
         for (const [k, v] of Object.entries({values})) f.elements[k].value = v; \
         if ({submit}) f.requestSubmit(); return true; }})()"
    ))
    .await?;
    Ok(())
}

/// The rules view: every rule of the API listed; a rule refused by the API shows the API's
/// message next to the field it names; an admin adds a warning for one station, which the
/// overview's chart then draws as that station's threshold, and switches it off again.
pub(super) async fn check_rules(
    page: &mut support::Page,
    url: &str,
    admin: &str,
    station: &str,
) -> Result<()> {
    page.eval("location.hash = '#rules', true").await?;
    let rules: serde_json::Value = reqwest::get(format!("{url}/api/v1/thresholds"))
        .await?
        .json()
        .await?;
    let count = rules.as_array().map_or(0, Vec::len);
    page.wait_for(
        &format!("!document.querySelector('#rules').hidden && document.querySelectorAll('#rules-table tbody tr').length === {count}"),
        WAIT,
    )
    .await?;
    no_english(page, "rules").await?;
    // The operator's token is still in the field: the API refuses the change, and the page says so.
    page.eval("document.querySelector('#rules-table button[data-toggle]').click(), true")
        .await?;
    let forbidden = page
        .wait_for("document.querySelector('#rule-error').textContent", WAIT)
        .await?;
    ensure!(
        forbidden.as_str().is_some_and(
            |f| f.starts_with("Chưa lưu: mã truy cập") && f.ends_with("thao tác này cần quyền admin")
        ),
        "an operator's change refused: {forbidden}"
    );
    let fill = |recovery: &str| {
        format!(
            "(() => {{ const t = document.querySelector('#token'); t.value = '{admin}'; t.dispatchEvent(new Event('change')); \
             const f = document.querySelector('#rule-form'); const set = (k, v) => {{ f.elements[k].value = v; }}; \
             set('parameter', 'pm2_5'); set('scope', 'station'); set('target', '{station}'); set('window', '1h'); \
             set('level', 'warning'); set('direction', 'above'); set('trigger', '30'); set('recovery', '{recovery}'); \
             set('source', 'Kế hoạch ứng phó của tỉnh'); f.requestSubmit(); return true; }})()"
        )
    };
    page.eval(&fill("40")).await?;
    let message = page
        .wait_for(
            "document.querySelector('#rule-form [data-error-for=\"recovery\"]').textContent",
            WAIT,
        )
        .await?;
    ensure!(
        message
            .as_str()
            .is_some_and(|m| m.starts_with("phải nhỏ hơn hoặc bằng ngưỡng kích hoạt (30)")
                && m.ends_with("đã nhập 40")),
        "the API's message, in Vietnamese, next to the recovery field: {message}"
    );
    page.eval(&fill("27")).await?;
    page.wait_for(
        &format!(
            "document.querySelectorAll('#rules-table tbody tr').length === {}",
            count + 1
        ),
        WAIT,
    )
    .await?;
    let added = reqwest::get(format!("{url}/api/v1/thresholds"))
        .await?
        .json::<serde_json::Value>()
        .await?
        .as_array()
        .and_then(|r| r.iter().find(|r| r["target"] == station).cloned())
        .ok_or_else(|| anyhow::anyhow!("the rule added on screen is not in the API"))?;
    ensure!(
        added["trigger"] == 30.0
            && added["recovery"] == 27.0
            && added["updated_by"] == "lead"
            && added["enabled"] == true,
        "rule as stored: {added}"
    );
    // The overview's chart of that station draws the new warning level.
    page.eval(&format!(
        "location.hash = ''; setTimeout(() => document.querySelector('#stations tbody tr[data-station=\"{station}\"]').click(), 50); true"
    ))
    .await?;
    page.wait_for(
        "document.querySelector('#chart line[data-threshold]')?.dataset.threshold === '30'",
        WAIT,
    )
    .await?;
    page.eval(&format!(
        "location.hash = '#rules'; setTimeout(() => document.querySelector('#rules-table button[data-toggle=\"{}\"]').click(), 300); true",
        added["id"]
    ))
    .await?;
    page.wait_for(
        &format!(
            "document.querySelector('#rules-table tr[data-rule-id=\"{}\"]')?.classList.contains('disabled')",
            added["id"]
        ),
        WAIT,
    )
    .await?;
    let stored: serde_json::Value = reqwest::get(format!("{url}/api/v1/thresholds/{}", added["id"]))
        .await?
        .json()
        .await?;
    ensure!(stored["enabled"] == false, "switched off on screen: {stored}");
    page.eval("location.hash = '', true").await?;
    Ok(())
}
