//! `citysense`: runs the whole system in one process, with no external services: an embedded
//! MQTT broker, the collector, the IOC API and a simulated fleet of Hau Giang stations.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use citysense::demo::{Demo, DemoConfig};
use clap::Parser;
use collector::config::SinkConfig;
use service::Secret;

/// Runs the whole citysense system in one process: embedded MQTT broker, collector, IOC API and
/// simulated air and water stations. Readings go to InfluxDB if you name one, otherwise to a
/// local file in the data directory.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Where the node registry, readings file and dead letters are kept.
    #[arg(long, default_value = "citysense-data")]
    data_dir: PathBuf,
    /// The embedded MQTT broker's address (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:1883")]
    mqtt_listen: SocketAddr,
    /// Use this MQTT broker (for example a mosquitto with persistence on, which keeps what it
    /// acknowledged across a crash of this process) instead of the embedded one; --mqtt-listen
    /// is then unused.
    #[arg(long, value_name = "HOST:PORT")]
    broker: Option<SocketAddr>,
    /// The IOC API's address (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    api_listen: SocketAddr,
    /// Simulated air-quality stations (when the registry is first created).
    #[arg(long, default_value_t = 8)]
    air: u32,
    /// Simulated water-quality stations (when the registry is first created).
    #[arg(long, default_value_t = 4)]
    water: u32,
    /// History to backfill at start (as fast as the broker takes it), so rolling means and charts
    /// have data at once; after that the stations report in real time.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3h")]
    backfill: Duration,
    /// Do not force the PM2.5 episode at the first air station.
    #[arg(long)]
    no_episode: bool,
    /// Write to InfluxDB at this URL instead of the local file (with --influx-database for the
    /// v1 API, or --influx-org, --influx-bucket and INFLUX_TOKEN for the v2 API).
    #[arg(long)]
    influx_url: Option<String>,
    /// InfluxDB 1.x database (v1 write API).
    #[arg(long)]
    influx_database: Option<String>,
    /// InfluxDB 2.x organisation (v2 write API).
    #[arg(long)]
    influx_org: Option<String>,
    /// InfluxDB 2.x bucket (v2 write API).
    #[arg(long)]
    influx_bucket: Option<String>,
    /// InfluxDB 2.x API token.
    #[arg(long, env = "INFLUX_TOKEN", hide_env_values = true)]
    influx_token: Option<String>,
}

fn sink(cli: &Cli) -> anyhow::Result<Option<SinkConfig>> {
    let Some(url) = cli.influx_url.clone() else {
        return Ok(None);
    };
    if let Some(database) = cli.influx_database.clone() {
        return Ok(Some(SinkConfig::InfluxV1 {
            url,
            database,
            retention_policy: None,
            username: None,
            password: None,
            password_file: None,
            gzip: true,
            timeout_ms: 10_000,
        }));
    }
    let org = cli
        .influx_org
        .clone()
        .context("--influx-url needs --influx-database (v1) or --influx-org (v2)")?;
    let bucket = cli
        .influx_bucket
        .clone()
        .context("--influx-org needs --influx-bucket")?;
    let token = cli
        .influx_token
        .clone()
        .context("the v2 API needs a token: set INFLUX_TOKEN or --influx-token")?;
    Ok(Some(SinkConfig::InfluxV2 {
        url,
        org,
        bucket,
        token: Secret::new(token),
        token_file: None,
        gzip: true,
        timeout_ms: 10_000,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    // rumqttd 0.20 logs every client's clean DISCONNECT as an ERROR "router-drop"
    // (`server::broker`: the router closes the link and the link reports it), so the demo's
    // ordinary shutdown and node reboots would read as failures; its own clients are in-process.
    service::cli::init_tracing(
        "info,rumqttd=warn,rumqttd::router::routing=off,rumqttd::server::broker=off,tower_http=warn",
    );
    service::cli::exit_code(run(Cli::parse()).await)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = DemoConfig {
        sink: sink(&cli)?,
        data_dir: cli.data_dir,
        mqtt_listen: cli.mqtt_listen,
        broker: cli.broker,
        api_listen: cli.api_listen,
        air: cli.air,
        water: cli.water,
        backfill: cli.backfill,
        episode: !cli.no_episode,
    };
    let demo = Demo::start(config).await?;
    eprintln!(
        "\ncitysense is running. Press Ctrl-C to stop.\n\
         \n  dashboard    http://{api}/\
         \n  IOC API      http://{api}/api/v1/stations\
         \n  alerts       http://{api}/api/v1/alerts\
         \n  live stream  http://{api}/api/v1/stream   (curl -N)\
         \n  MQTT broker  {mqtt}   (topics city/haugiang/node/+/telemetry)\
         \n  readings     {sink}\
         \n  authority    {authority}   (files for the environment authority; a [[receiver]] uploads them)\
         \n  registry     {registry}\n",
        api = demo.api,
        mqtt = demo.mqtt,
        sink = demo.sink,
        registry = demo.registry_path.display(),
        authority = demo.authority_files.display(),
    );
    demo.run(service::cli::shutdown_signal()).await
}
