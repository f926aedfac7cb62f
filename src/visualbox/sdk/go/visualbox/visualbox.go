// Package visualbox is the VisualBox SDK for Go integrations.
//
//	import "visualbox"
//	level := visualbox.MODEL["level"]               // config values (Config is the same map)
//	err := visualbox.Output(map[string]int{"t": 21}) // one data model for the dashboard
//
// The supervisor passes inherited file descriptors whose numbers are in the
// environment: VISUALBOX_CONFIG_FD (a memfd holding the config as JSON),
// VISUALBOX_OUTPUT_FD (the write end of a pipe) and VISUALBOX_ACK_FD (the read
// end of a pipe). Each frame is a 4-byte big-endian length, a tag byte ('I' =
// INIT, 'T' = OUTPUT of a string, 'O' = OUTPUT of JSON) and the payload; each
// frame waits for the supervisor's one-byte acknowledgement (sent once the log
// lines written before it and the frame were emitted), so log lines (os.Stdout
// and os.Stderr are unbuffered) and outputs keep the order they were written in.
// INIT is sent from init(), so it arrives when the program starts.
package visualbox

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
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
	ack *os.File
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
		if text := os.Getenv("VISUALBOX_ACK_FD"); text != "" {
			fd, err := strconv.Atoi(text)
			if err != nil {
				panic("visualbox: bad VISUALBOX_ACK_FD")
			}
			ack = os.NewFile(uintptr(fd), "visualbox-ack")
		}
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
	if _, err := out.Write(frame); err != nil { // writes everything or returns an error
		return err
	}
	if ack != nil {
		// The supervisor has emitted the frame (io.EOF once it is gone: nothing to wait for).
		if _, err := ack.Read(make([]byte, 1)); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// Output sends one data model to the dashboard, in call order. A string is
// sent as text and arrives as that string (unless it is the JSON text of an
// object or an array, which arrives parsed); anything else is encoded with
// json.Marshal, and a value it cannot encode (a channel, a func, NaN, ...)
// returns an error. It returns once the supervisor has taken the output in.
func Output(value interface{}) error {
	var payload []byte
	tag := byte('O')
	if s, ok := value.(string); ok {
		payload = []byte(s)
		tag = 'T'
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
	return writeFrame(tag, payload)
}
