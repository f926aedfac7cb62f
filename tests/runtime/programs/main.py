import os
import sys
import time

import visualbox

m = visualbox.MODEL
mode = m.get("mode", "")
print("out line", flush=True)
print("err line", file=sys.stderr, flush=True)
visualbox.output({"config": m})
for i in range(5):
    visualbox.output(i)
if mode == "exit3":
    sys.exit(3)
if mode == "crash":
    raise RuntimeError("boom")
if mode == "oom":
    hog = []
    while True:
        hog.append(b"x" * (16 << 20))
if mode == "big":
    visualbox.output("x" * m["size"])
    visualbox.output("after")
if mode == "flood":
    while True:
        visualbox.output("y" * 10000)
if mode == "secrets":
    with open("/proc/self/environ", "rb") as f:
        environ = f.read().decode("utf-8", "replace")
    with open("/proc/self/cmdline", "rb") as f:
        cmdline = f.read().decode("utf-8", "replace")
    visualbox.output({"environ": environ, "cmdline": cmdline})
if mode == "bad":
    try:
        visualbox.output({1, 2})
    except TypeError as exc:
        visualbox.output("error: " + str(exc))
if mode == "isolation":
    with open(os.path.expanduser("~/mine-" + m["tag"]), "w") as f:
        f.write("x")
    visualbox.output({"home": sorted(os.listdir(os.path.expanduser("~"))), "tag": m["tag"]})
if mode == "wait":
    visualbox.output("waiting")
    time.sleep(3600)
visualbox.output("done")
