// Package visualbox is the VisualBox SDK for Go integrations.
//
//	import "visualbox"
//	level := visualbox.MODEL["level"]               // config values (Config is the same map)
//	err := visualbox.Output(map[string]int{"t": 21}) // one data model for the dashboard
//
// The supervisor passes two inherited file descriptors whose numbers are in the
// environment: VISUALBOX_CONFIG_FD (a memfd holding the config as JSON) and
// VISUALBOX_OUTPUT_FD (the write end of a pipe). Each frame is a 4-byte
// big-endian length, a tag byte ('I' = INIT, 'O' = OUTPUT) and the payload.
// INIT is sent from init(), so it arrives when the program starts.
package visualbox

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// MODEL holds the config values by field name.
var MODEL map[string]interface{}

// Config is the same map as MODEL.
var Config map[string]interface{}

var (
	out *os.File
	mu  sync.Mutex
)

func init() {
	MODEL = map[string]interface{}{}
	if text := os.Getenv("VISUALBOX_CONFIG_FD"); text != "" {
		fd, err := strconv.Atoi(text)
		if err != nil {
			panic("visualbox: bad VISUALBOX_CONFIG_FD")
		}
		f := os.NewFile(uintptr(fd), "visualbox-config")
		info, err := f.Stat()
		if err != nil {
			panic("visualbox: cannot read the config: " + err.Error())
		}
		data := make([]byte, info.Size())
		if _, err := f.ReadAt(data, 0); err != nil && len(data) > 0 {
			panic("visualbox: cannot read the config: " + err.Error())
		}
		f.Close()
		if len(data) > 0 {
			if err := json.Unmarshal(data, &MODEL); err != nil {
				panic("visualbox: the config is not a JSON object: " + err.Error())
			}
		}
	}
	Config = MODEL
	if text := os.Getenv("VISUALBOX_OUTPUT_FD"); text != "" {
		fd, err := strconv.Atoi(text)
		if err != nil {
			panic("visualbox: bad VISUALBOX_OUTPUT_FD")
		}
		out = os.NewFile(uintptr(fd), "visualbox-output")
		if err := writeFrame('I', nil); err != nil {
			panic("visualbox: cannot reach the supervisor: " + err.Error())
		}
	} else {
		fmt.Fprintln(os.Stderr, "visualbox: not running under VisualBox; Output prints to stdout")
	}
}

func writeFrame(tag byte, payload []byte) error {
	frame := make([]byte, 5+len(payload))
	binary.BigEndian.PutUint32(frame, uint32(len(payload)+1))
	frame[4] = tag
	copy(frame[5:], payload)
	mu.Lock()
	defer mu.Unlock()
	_, err := out.Write(frame) // os.File.Write writes everything or returns an error
	return err
}

// Output sends one data model to the dashboard, in call order. A string is
// sent as-is; anything else is encoded with json.Marshal, and a value it
// cannot encode (a channel, a func, NaN, ...) returns an error.
func Output(value interface{}) error {
	var payload []byte
	if s, ok := value.(string); ok {
		payload = []byte(s)
	} else {
		data, err := json.Marshal(value)
		if err != nil {
			return fmt.Errorf("visualbox.Output needs a JSON-serialisable value: %w", err)
		}
		payload = data
	}
	if out == nil {
		_, err := fmt.Println(string(payload))
		return err
	}
	return writeFrame('O', payload)
}
