"""Built-in Counter integration: outputs {"count": n} every `interval` seconds."""

import time

import visualbox

model = visualbox.MODEL
count = model.get("start") or 0
step = model.get("step")
step = 1 if step is None else step
interval = model.get("interval") or 2

print(f"counting from {count} by {step} every {interval} s", flush=True)
while True:
    visualbox.output({"count": count})
    count += step
    time.sleep(interval)
