package runtime

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// chunkReader returns at most n bytes per Read, as a pipe from a container does.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// FuzzLogPump writes arbitrary container output through the CRI log writer and checks that
// every line is well formed ("<RFC3339Nano> stdout <P|F> <text>"), no P line is longer than the
// limit, and the texts give back the output exactly (a line's trailing "\r" is dropped, a
// missing final newline added). The seeds run with a plain `go test`; fuzz with
//
//	go test -run XXX -fuzz FuzzLogPump ./runtime/
func FuzzLogPump(f *testing.F) {
	f.Add([]byte("one\r\ntwo\n\nlast"), uint16(0), uint8(3))
	f.Add(bytes.Repeat([]byte("a"), 100), uint16(0), uint8(255))
	f.Add([]byte("\r\r\n\r\x00\xff\n"), uint16(1), uint8(0))
	f.Add([]byte("0123456789abcde\r\nxyz"), uint16(0), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, maxSeed uint16, chunk uint8) {
		max := 16 + int(maxSeed%512)
		l, b := fixedLog()
		l.pump(streamStdout, &chunkReader{b: data, n: int(chunk) + 1}, max)
		checkLogOutput(t, data, b.Bytes(), max)
	})
}

func checkLogOutput(t *testing.T, in, out []byte, max int) {
	t.Helper()
	pos := 0
	for len(out) > 0 {
		nl := bytes.IndexByte(out, '\n')
		if nl < 0 {
			t.Fatalf("output ends without a newline: %q", out)
		}
		line := out[:nl]
		out = out[nl+1:]
		f := bytes.SplitN(line, []byte(" "), 4)
		if len(f) != 4 || string(f[1]) != streamStdout || len(f[2]) != 1 || (f[2][0] != tagFull && f[2][0] != tagPartial) {
			t.Fatalf("malformed line %q", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, string(f[0])); err != nil {
			t.Fatalf("line %q: timestamp: %v", line, err)
		}
		text := f[3]
		if !bytes.HasPrefix(in[pos:], text) {
			t.Fatalf("line %q: text is not the next output at %d (%q)", line, pos, in[pos:])
		}
		pos += len(text)
		if f[2][0] == tagPartial {
			if len(text) == 0 || len(text) > max {
				t.Fatalf("partial line of %d bytes (limit %d)", len(text), max)
			}
			continue
		}
		switch {
		case bytes.HasPrefix(in[pos:], []byte("\r\n")):
			pos += 2
		case bytes.HasPrefix(in[pos:], []byte("\n")):
			pos++
		case pos != len(in):
			t.Fatalf("line %q: full line ends at %d before a newline (%q)", line, pos, in[pos:])
		}
	}
	if pos != len(in) {
		t.Fatalf("output covers %d of %d input bytes", pos, len(in))
	}
}
