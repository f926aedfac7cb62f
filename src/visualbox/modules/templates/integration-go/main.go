// A VisualBox integration: outputs a counter and a sine wave every few seconds.
package main

import (
	"fmt"
	"math"
	"time"

	"visualbox" // provided by the VisualBox runtime
)

func main() {
	model := visualbox.MODEL // the config values, by the names in config.json
	title, _ := model["title"].(string)
	if title == "" {
		title = "Counter"
	}
	interval, _ := model["interval"].(float64) // JSON numbers are float64
	if interval <= 0 {
		interval = 5
	}
	verbose, _ := model["verbose"].(bool)

	// Anything printed on stdout shows in the console as INFO (stderr as ERROR).
	fmt.Printf("%s: one output every %v s\n", title, interval)
	if key, _ := model["apiKey"].(string); key != "" {
		fmt.Println("an API key is set (secrets are never printed)")
	}

	for count := 1; ; count++ {
		data := map[string]interface{}{
			"title": title,
			"count": count,
			"sine":  math.Round(math.Sin(float64(count)/5)*10000) / 10000,
		}
		// One data model, sent to the widgets bound to this integration.
		if err := visualbox.Output(data); err != nil {
			panic(err)
		}
		if verbose {
			fmt.Println("output", data)
		}
		time.Sleep(time.Duration(interval * float64(time.Second)))
	}
}
