//! What the operators read, and where: Vietnamese first with no English left, times in UTC+7,
//! English one click away; the phone and wall-screen layouts, with screenshots.

use std::time::Duration;

use anyhow::{Result, ensure};

use super::WAIT;
use crate::support;
use crate::support::Chromium;

/// What an English-reading page shows that a Vietnamese one must not: every label and state the
/// dashboard writes in English.
const ENGLISH: [&str; 37] = [
    "File to the environment authority",
    "Stations",
    "Station",
    "District",
    "Index",
    "Salinity",
    "Last seen",
    "Open alerts",
    "Firing",
    "Last 24 hours",
    "pick a station",
    "no data",
    "not enough data",
    "never",
    "connecting",
    "reconnecting",
    "Acknowledge",
    "Ack'd",
    "warning",
    "fired",
    "above",
    "open data",
    "thresholds",
    "Fresh",
    "Token",
    "History",
    "acknowledged",
    "Overview",
    "Past alerts",
    "Alert rules",
    "Parameter",
    "Trigger",
    "Switch off",
    "Compare with",
    "Pick days",
    "Recovery",
    "resolved",
];

/// The text of the page (what a reader sees) must hold none of the English labels while it is in
/// Vietnamese.
pub(super) async fn no_english(page: &mut support::Page, view: &str) -> Result<()> {
    let text = page.eval("document.body.innerText").await?;
    let text = text.as_str().unwrap_or_default().to_owned();
    let left: Vec<&str> = ENGLISH.iter().copied().filter(|w| text.contains(w)).collect();
    ensure!(
        left.is_empty(),
        "English in the Vietnamese {view}: {left:?}\n{text}"
    );
    Ok(())
}

/// Vietnamese by default, with no English word left and times in the centre's time zone
/// (UTC+7); English one click away, remembered across a reload; then back to Vietnamese.
pub(super) async fn check_languages(page: &mut support::Page) -> Result<()> {
    no_english(page, "overview").await?;
    let text = page.eval("document.body.innerText").await?;
    let text = text.as_str().unwrap_or_default().to_owned();
    ensure!(
        text.contains("Trạm quan trắc") && text.contains("Vị Thanh"),
        "{text}"
    );
    // The alert's start in Vietnam time: fired_at (UTC) + 7 h, as HH:MM.
    let fired = page
        .eval("document.querySelector('#alerts .meta[data-fired-at]')?.dataset.firedAt")
        .await?;
    let fired = time::OffsetDateTime::parse(
        fired.as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )?;
    let local = fired.to_offset(time::macros::offset!(+7));
    let clock = format!("{:02}:{:02}", local.hour(), local.minute());
    let meta = page
        .eval("document.querySelector('#alerts .meta').textContent")
        .await?;
    ensure!(
        meta.as_str().is_some_and(|m| m.contains(&clock)),
        "alert time {meta} is not {clock} (UTC+7 of {fired})"
    );

    page.eval("document.querySelector('#lang').click(), true").await?;
    page.wait_for("document.documentElement.lang === 'en'", WAIT)
        .await?;
    let english = page.eval("document.body.innerText").await?;
    let english = english.as_str().unwrap_or_default();
    ensure!(
        english.contains("Stations") && english.contains("Open alerts") && english.contains("Ack'd by"),
        "{english}"
    );
    // Reloaded, the page stays in English (the choice is kept in local storage).
    page.eval("setTimeout(() => location.reload(), 0), true").await?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    page.wait_for(
        "document.documentElement.lang === 'en' && document.querySelectorAll('#stations tbody tr').length > 0",
        WAIT,
    )
    .await?;
    page.eval("document.querySelector('#lang').click(), true").await?;
    page.wait_for("document.documentElement.lang === 'vi'", WAIT)
        .await?;
    Ok(())
}

/// At 390×844 the page has no sideways scrolling and shows the alerts first; at 1920×1080 the
/// wall mode (`?wall`) has large type and no controls. Screenshots of both, in both languages.
pub(super) async fn check_phone_and_wall(url: &str) -> Result<()> {
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    for (name, path, size) in [("phone", "/", (390, 844)), ("wall", "/?wall", (1920, 1080))] {
        let chromium = Chromium::start(&format!("{url}{path}"), size).await?;
        let mut page = chromium.page().await?;
        page.wait_for(
            "document.querySelectorAll('#stations tbody tr').length > 0 && document.querySelectorAll('#alerts li').length > 0",
            WAIT,
        )
        .await?;
        let layout = page
            .eval(
                "({ width: innerWidth, scroll: document.documentElement.scrollWidth,                  alertsFirst: document.querySelector('#alerts-panel').getBoundingClientRect().top                    < document.querySelector('#stations-panel').getBoundingClientRect().top,                  font: parseFloat(getComputedStyle(document.body).fontSize),                  controls: [...document.querySelectorAll('#token, #lang, #alerts button')]                    .filter(e => e.offsetParent !== null).length })",
            )
            .await?;
        ensure!(
            layout["scroll"].as_f64() <= layout["width"].as_f64(),
            "{name}: sideways scrolling: {layout}"
        );
        if name == "phone" {
            ensure!(
                layout["alertsFirst"] == true,
                "phone: the alerts are not first: {layout}"
            );
        } else {
            ensure!(
                layout["font"].as_f64() >= Some(20.0) && layout["controls"] == 0,
                "wall: {layout}"
            );
        }
        for lang in ["vi", "en"] {
            page.eval(&format!(
                "(() => {{ if (i18n.lang !== '{lang}') document.querySelector('#lang').click(); return true; }})()"
            ))
            .await?;
            page.wait_for(&format!("document.documentElement.lang === '{lang}'"), WAIT)
                .await?;
            let shot = artifacts.join(format!("ioc-dashboard-{name}-{lang}.png"));
            page.screenshot(&shot).await?;
            eprintln!("dashboard screenshot: {}", shot.display());
        }
    }
    Ok(())
}
