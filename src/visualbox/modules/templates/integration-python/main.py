"""A VisualBox integration: outputs a counter and a sine wave every few seconds."""

import math
import time

import visualbox

model = visualbox.MODEL  # the config values, by the names in config.json
title = model.get("title") or "Counter"
interval = model.get("interval") or 5

# Anything printed on stdout shows in the console as INFO (stderr as ERROR).
print(f"{title}: one output every {interval} s", flush=True)
if model.get("apiKey"):
    print("an API key is set (secrets are never printed)", flush=True)

count = 0
while True:
    count += 1
    data = {"title": title, "count": count, "sine": round(math.sin(count / 5), 4)}
    visualbox.output(data)  # one data model, sent to the widgets bound to this integration
    if model.get("verbose"):
        print(f"output {data}", flush=True)
    time.sleep(interval)
