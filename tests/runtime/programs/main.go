package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"visualbox"
)

func main() {
	m := visualbox.MODEL
	mode, _ := m["mode"].(string)
	fmt.Println("out line")
	fmt.Fprintln(os.Stderr, "err line")
	visualbox.Output(map[string]interface{}{"config": m})
	for i := 0; i < 5; i++ {
		visualbox.Output(i)
	}
	switch mode {
	case "exit3":
		os.Exit(3)
	case "crash":
		panic("boom")
	case "oom":
		var hog [][]byte
		for {
			b := make([]byte, 16<<20)
			for i := range b {
				b[i] = 1
			}
			hog = append(hog, b)
		}
	case "big":
		visualbox.Output(strings.Repeat("x", int(m["size"].(float64))))
		visualbox.Output("after")
	case "flood":
		for {
			visualbox.Output(strings.Repeat("y", 10000))
		}
	case "secrets":
		environ, _ := os.ReadFile("/proc/self/environ")
		cmdline, _ := os.ReadFile("/proc/self/cmdline")
		visualbox.Output(map[string]string{"environ": string(environ), "cmdline": string(cmdline)})
	case "bad":
		if err := visualbox.Output(make(chan int)); err != nil {
			visualbox.Output("error: " + err.Error())
		}
	case "wait":
		visualbox.Output("waiting")
		time.Sleep(time.Hour)
	}
	visualbox.Output("done")
}
