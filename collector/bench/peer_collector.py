#!/usr/bin/env python3
"""A plain Python collector, the benchmark's second peer: paho-mqtt subscribes with QoS 1 (acking on
receipt, as paho does), each frame is decoded and its HMAC verified with protocol/tools/frame_decoder.py
(the decoder written from FORMAT.md), mapped to line protocol, and written through influxdb-client's
/api/v2/write in batches of --batch points (and at least once a second).

Run by `cargo run --release -p collector --example bench`; prints `subscribed` once the broker has
granted the subscription, and a count of frames on exit.
"""

import argparse
import json
import os
import sys
import threading
import time

import paho.mqtt.client as mqtt
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "protocol", "tools"))
from frame_decoder import FrameError, decode_frame  # noqa: E402

SCALE = {"pm1_0": 10, "pm2_5": 10, "pm10": 10, "temperature": 100, "humidity": 100}


def escape(tag):
    return tag.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--registry", required=True, help="JSON: node id -> [station, district, key hex]")
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()

    with open(args.registry) as f:
        registry = {int(k): (v[0], escape(v[1]), bytes.fromhex(v[2])) for k, v in json.load(f).items()}
    db = InfluxDBClient(url=args.url, token="unused", org="bench", timeout=30_000)
    writer = db.write_api(write_options=SYNCHRONOUS)
    lock = threading.Lock()
    batch = []
    counts = {"written": 0, "rejected": 0}

    def flush():
        if batch:
            writer.write(bucket="bench", org="bench", record="\n".join(batch), write_precision="ms")
            counts["written"] += len(batch)
            batch.clear()

    def on_message(client, userdata, msg):
        node = int(msg.topic.split("/")[-2])
        info = registry.get(node)
        try:
            if info is None:
                raise FrameError("unknown_node")
            frame = decode_frame(msg.payload, info[2])
        except FrameError:
            counts["rejected"] += 1
            return
        air = frame["body"]["air"]
        fields = [f"{k}={air[k] / s}" for k, s in SCALE.items() if air.get(k) is not None]
        fields += [f"samples={air['samples']}i", f"boot={frame['boot']}i", f"seq={frame['seq']}i"]
        line = f"air_quality,node={node},station={info[0]},district={info[1]} {','.join(fields)} {frame['time_ms']}"
        with lock:
            batch.append(line)
            if len(batch) >= args.batch:
                flush()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        print("subscribed", flush=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-python", clean_session=False)
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("city/haugiang/node/+/telemetry", qos=1)
    client.connect("127.0.0.1", args.port, keepalive=60)
    client.loop_start()
    try:
        while True:
            time.sleep(1)
            with lock:
                flush()
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
        with lock:
            flush()
        print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
