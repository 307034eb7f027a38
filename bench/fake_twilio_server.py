"""The fake Twilio of the tests, in a process of its own, so that it does not share a GIL with
what is measured. Prints its base URL, then serves until killed."""
import argparse
import signal
import sys
import threading

from tests.fakes.twilio import FakeTwilio


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--number", required=True)
    parser.add_argument("--answer-delay", type=float, default=0.0)
    parser.add_argument("--slow-number", help="another number, whose sends are answered in --slow-delay seconds")
    parser.add_argument("--slow-delay", type=float, default=0.0)
    arguments = parser.parse_args()
    numbers = (arguments.number, arguments.slow_number) if arguments.slow_number else (arguments.number,)
    fake = FakeTwilio(arguments.account_sid, arguments.auth_token, numbers=numbers).start()
    fake.answer_delay = arguments.answer_delay
    if arguments.slow_number:
        fake.answer_delays[arguments.slow_number] = arguments.slow_delay
    print(fake.base_url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    fake.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
