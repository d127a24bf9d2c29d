//! `citysense-sim`: runs simulated sensor nodes (the firmware's own code on emulated sensors)
//! against an MQTT broker, and writes node registries for them.
// The command prints what it is asked for (a registry file) on stdout; logs go to stderr.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use firmware::node::NodeConfig;
use protocol::registry::Registry;
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fit::AirFits;
use simulators::fleet::{self, FleetConfig, FleetOptions};
use simulators::signal::{Episode, Scenario};

/// Simulated air- and water-quality nodes for citysense.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a node registry (TOML, with fresh random keys) for Hau Giang stations.
    Registry {
        /// Number of air-quality nodes (ids from 101).
        #[arg(long, default_value_t = 8)]
        air: u32,
        /// Number of water-quality nodes (ids from 201).
        #[arg(long, default_value_t = 4)]
        water: u32,
    },
    /// Run every node of a registry against a broker until Ctrl-C (or until --frames).
    Fleet(FleetArgs),
    /// Sign a downlink command with a node's key and publish it on the node's command topic.
    Downlink(CommandArgs),
}

/// Where the nodes are: their broker, their registry (with their keys) and their topic prefix.
#[derive(clap::Args)]
struct Nodes {
    /// Broker address.
    #[arg(long, default_value = "127.0.0.1:1883")]
    broker: String,
    /// Node registry (from `citysense-sim registry`) with the nodes' keys, shared with the
    /// collector and IOC API.
    #[arg(long)]
    registry: PathBuf,
    /// Topic prefix.
    #[arg(long, default_value = protocol::topic::DEFAULT_PREFIX)]
    prefix: String,
}

impl Nodes {
    /// The broker's host and port, and the registry.
    fn open(&self) -> anyhow::Result<(&str, u16, Registry)> {
        let (host, port) = self
            .broker
            .rsplit_once(':')
            .context("--broker must be HOST:PORT")?;
        let port: u16 = port.parse().context("--broker port must be a number")?;
        Ok((host, port, Registry::load(&self.registry)?))
    }
}

#[derive(clap::Args)]
struct CommandArgs {
    #[command(flatten)]
    nodes: Nodes,
    /// The node.
    #[arg(long)]
    node: u32,
    /// Anti-replay counter; must exceed the last the node accepted. Default: now in ms.
    #[arg(long)]
    counter: Option<u64>,
    #[command(subcommand)]
    what: CommandKind,
}

#[derive(Subcommand)]
enum CommandKind {
    /// Report every SECONDS (10 to 86400).
    SetInterval {
        /// The new reporting interval in seconds.
        seconds: u32,
    },
    /// Publish a status frame now.
    Status,
    /// Restart the node.
    Reboot,
    /// Take one calibration point: PROBE (ph, do, ec, turbidity, level, co, no2, so2, o3), POINT
    /// (clear, dry, zero, air, low, mid, high, single), REFERENCE in the probe's frame unit
    /// (0.001 pH, µS/cm, ...) or, for a gas, the span gas in ppb.
    Calibrate {
        /// ph, do, ec, turbidity, level, co, no2, so2 or o3.
        probe: String,
        /// clear, dry, zero, air, low, mid, high or single.
        point: String,
        /// The standard's value in the frame unit (ppb for a gas); 0 where the point has none.
        #[arg(default_value_t = 0)]
        reference: i32,
    },
}

fn command_of(kind: CommandKind) -> anyhow::Result<protocol::command::Command> {
    use protocol::command::{CalibrationPoint, CalibrationStep, Command, Probe};
    Ok(match kind {
        CommandKind::SetInterval { seconds } => Command::SetReportInterval { seconds },
        CommandKind::Status => Command::RequestStatus,
        CommandKind::Reboot => Command::Reboot,
        CommandKind::Calibrate {
            probe,
            point,
            reference,
        } => {
            let probe = match probe.as_str() {
                "ph" => Probe::Ph,
                "do" => Probe::DissolvedOxygen,
                "ec" => Probe::Conductivity,
                "turbidity" => Probe::Turbidity,
                "level" => Probe::WaterLevel,
                "co" => Probe::CarbonMonoxide,
                "no2" => Probe::NitrogenDioxide,
                "so2" => Probe::SulphurDioxide,
                "o3" => Probe::Ozone,
                other => {
                    anyhow::bail!("unknown probe {other:?}: ph, do, ec, turbidity, level, co, no2, so2 or o3")
                }
            };
            let point = match point.as_str() {
                "clear" => CalibrationPoint::Clear,
                "dry" => CalibrationPoint::Dry,
                "zero" => CalibrationPoint::Zero,
                "air" => CalibrationPoint::Air,
                "low" => CalibrationPoint::Low,
                "mid" => CalibrationPoint::Mid,
                "high" => CalibrationPoint::High,
                "single" => CalibrationPoint::Single,
                other => {
                    anyhow::bail!("unknown point {other:?}: clear, dry, zero, air, low, mid, high or single")
                }
            };
            Command::Calibrate(CalibrationStep {
                probe,
                point,
                reference,
            })
        }
    })
}

#[derive(clap::Args)]
struct FleetArgs {
    #[command(flatten)]
    nodes: Nodes,
    /// Start simulated time this long ago (for example `6h`); history is backfilled.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    backfill: Duration,
    /// Simulated seconds per real second, or `max` to run as fast as the broker takes frames.
    /// Simulated time never runs ahead of the wall clock.
    #[arg(long, default_value = "max")]
    speed: String,
    /// Stop each node after this many telemetry frames.
    #[arg(long)]
    frames: Option<u32>,
    /// Sensor sampling interval (simulated time).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    sample_interval: Duration,
    /// Reporting interval: one telemetry frame per node per interval (simulated time).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    report_interval: Duration,
    /// Force a pollution episode: `NODE:START:DURATION:PM25`, START from the beginning of
    /// simulated time, NODE a node id or `all`, PM25 the µg/m³ added. Example: `101:2h:90m:150`.
    #[arg(long)]
    episode: Vec<String>,
    /// Boot counter the nodes start with (those without a settings file yet, see
    /// `--settings-dir`).
    #[arg(long, default_value_t = 1)]
    boot: u32,
    /// Keep each node's settings flash (boot counter, interval, calibrations) in
    /// `DIR/node-{id}.settings`, so the next run boots every node with the next boot counter, as
    /// a board keeps its flash. Without it every run boots the nodes as `--boot`, and a collector
    /// that saw the previous run refuses the reused (boot, seq) keys.
    #[arg(long, value_name = "DIR")]
    settings_dir: Option<std::path::PathBuf>,
    /// A folder of settings blobs from `citysense-provision` (`node-{id}.bin`): each node with a
    /// blob logs in to the broker as `node-{id}` with the blob's password, as the board does.
    #[arg(long, value_name = "DIR")]
    provisioning_dir: Option<std::path::PathBuf>,
    /// The air nodes' sensors: a particulate sensor (pms5003 or sds011), climate sensors (sht4x,
    /// bme280 or both) and `gas` for the CO/NO2/SO2/O3 cells, joined by `+`, for example
    /// `sds011+bme280+gas`; or `mixed` to fit each node by its id from three combinations.
    #[arg(long, default_value = "pms5003+sht4x+gas", value_parser = parse_air_fits)]
    air_fit: AirFits,
}

fn parse_air_fits(text: &str) -> Result<AirFits, String> {
    text.parse()
}

fn parse_episode(spec: &str, start_ms: u64) -> anyhow::Result<Episode> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [node, start, duration, pm] = parts[..] else {
        anyhow::bail!("--episode {spec:?}: expected NODE:START:DURATION:PM25, e.g. 101:2h:90m:150");
    };
    let node_id = match node {
        "all" => None,
        id => Some(
            id.parse()
                .with_context(|| format!("--episode {spec:?}: NODE must be a node id or `all`"))?,
        ),
    };
    let offset =
        humantime::parse_duration(start).with_context(|| format!("--episode {spec:?}: bad START"))?;
    let duration =
        humantime::parse_duration(duration).with_context(|| format!("--episode {spec:?}: bad DURATION"))?;
    let pm2_5_added: f32 = pm
        .parse()
        .with_context(|| format!("--episode {spec:?}: PM25 must be a number"))?;
    Ok(Episode {
        node_id,
        start_ms: start_ms + offset.as_millis() as u64,
        duration_ms: duration.as_millis() as u64,
        pm2_5_added,
    })
}

fn fleet_config(args: FleetArgs) -> anyhow::Result<FleetConfig> {
    let (host, port, registry) = args.nodes.open()?;
    let speed = match args.speed.as_str() {
        "max" => Speed::Unlimited,
        factor => Speed::Factor(
            factor
                .parse::<f64>()
                .ok()
                .filter(|f| *f > 0.0)
                .context("--speed must be `max` or a positive number")?,
        ),
    };
    let start_ms = wall_ms() - args.backfill.as_millis() as u64;
    let episodes = args
        .episode
        .iter()
        .map(|e| parse_episode(e, start_ms))
        .collect::<anyhow::Result<_>>()?;
    let interval_ms = |d: Duration, flag: &str| -> anyhow::Result<u32> {
        u32::try_from(d.as_millis())
            .ok()
            .filter(|ms| *ms > 0)
            .with_context(|| format!("{flag} must be between 1 ms and 49 days"))
    };
    Ok(FleetConfig {
        host: host.to_owned(),
        port,
        prefix: args.nodes.prefix.clone(),
        client_prefix: "citysense-sim".into(),
        registry,
        node: NodeConfig {
            sample_interval_ms: interval_ms(args.sample_interval, "--sample-interval")?,
            report_interval_ms: interval_ms(args.report_interval, "--report-interval")?,
            firmware: firmware::node::FIRMWARE_VERSION,
        },
        clock: SimClock::new(start_ms, speed),
        frames_per_node: args.frames,
        scenario: Scenario { episodes },
        boot: args.boot,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    service::cli::init_tracing("info");
    let result: anyhow::Result<()> =
        match Cli::parse().command {
            Command::Registry { air, water } => {
                print!("{}", simulators::stations::hau_giang(air, water).to_toml());
                Ok(())
            }
            Command::Downlink(args) => async {
                let (host, port, registry) = args.nodes.open()?;
                let counter = args.counter.unwrap_or_else(wall_ms);
                let command = command_of(args.what)?;
                let bytes = simulators::downlink::send(
                    host,
                    port,
                    &args.nodes.prefix,
                    &registry,
                    args.node,
                    counter,
                    command,
                )
                .await?;
                eprintln!(
                    "Sent {command:?} to node {} (counter {counter}, {} bytes), acknowledged by the broker.",
                    args.node,
                    bytes.len()
                );
                Ok(())
            }
            .await,
            Command::Fleet(args) => {
                async {
                    let passwords = match &args.provisioning_dir {
                        Some(dir) => fleet::passwords_from_blobs(dir)?,
                        None => Default::default(),
                    };
                    let options = FleetOptions {
                        air_fits: args.air_fit,
                        settings_dir: args.settings_dir.clone(),
                        passwords,
                    };
                    let config = fleet_config(args)?;
                    let report = fleet::run_with(config, options, service::cli::shutdown_signal()).await?;
                    eprintln!(
                        "Sent {} frames ({} telemetry), all acknowledged by the broker.",
                        report.sent.len(),
                        report.telemetry().count()
                    );
                    Ok(())
                }
                .await
            }
        };
    service::cli::exit_code(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_parse_and_bad_ones_say_what_is_wrong() {
        let e = parse_episode("101:2h:90m:150", 1_000).expect("valid");
        assert_eq!(
            e,
            Episode {
                node_id: Some(101),
                start_ms: 1_000 + 7_200_000,
                duration_ms: 5_400_000,
                pm2_5_added: 150.0
            }
        );
        assert_eq!(parse_episode("all:0s:1h:50", 0).expect("valid").node_id, None);
        let err = parse_episode("101:2h:150", 0).expect_err("3 parts").to_string();
        assert!(err.contains("NODE:START:DURATION:PM25"), "{err}");
        let err = format!("{:#}", parse_episode("x:2h:1h:150", 0).expect_err("bad node"));
        assert!(err.contains("NODE"), "{err}");
    }
}
