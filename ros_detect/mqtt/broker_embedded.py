"""Embedded pure-Python MQTT 3.1.1 broker (amqtt) for machines without mosquitto.

Run as `python -m ros_detect.mqtt.broker_embedded --port 1883`; binds 127.0.0.1 unless told otherwise
(amqtt's own default is 0.0.0.0). Only the anonymous-auth plugin is loaded: no $SYS chatter. Stops on
SIGTERM/SIGINT. Slower than mosquitto; it exists so the bridge works out of the box.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal


def broker_config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


async def serve(host: str, port: int) -> None:
    from amqtt.broker import Broker

    broker = Broker(broker_config(host, port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await broker.start()
    logging.getLogger("ros_detect.broker").warning("embedded amqtt broker listening on %s:%d", host, port)
    await stop.wait()
    await broker.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
