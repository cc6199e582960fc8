package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"tailscale.com/control/controlhttp/controlhttpserver"
	"tailscale.com/control/ts2021"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
)

// fakeControl is a control server built from Tailscale's own server-side
// ts2021 code (controlhttpserver plus HTTP/2), with knobs that break it in
// the ways the probe must report.
type fakeControl struct {
	noiseKey      key.MachinePrivate
	advertisedKey key.MachinePublic // served by /key; normally noiseKey.Public()
	maxStreams    uint32            // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; 0 means the x/net default
	sendEarly     bool              // write a tailcfg.EarlyNoise before HTTP/2
	rejectUpgrade bool              // respond to /ts2021 with 404
	corruptEcho   bool              // flip one byte of each echoed body
}

func newFakeControl() *fakeControl {
	k := key.NewMachine()
	return &fakeControl{noiseKey: k, advertisedKey: k.Public()}
}

func (f *fakeControl) start(t *testing.T) *url.URL {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /key", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(tailcfg.OverTLSPublicKeyResponse{PublicKey: f.advertisedKey})
	})
	mux.HandleFunc("/ts2021", f.serveUpgrade)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fakeControl) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	if f.rejectUpgrade {
		http.NotFound(w, r)
		return
	}
	var earlyWrite func(int, io.Writer) error
	if f.sendEarly {
		earlyWrite = writeEarlyPayload
	}
	conn, err := controlhttpserver.AcceptHTTP(r.Context(), w, r, f.noiseKey, earlyWrite)
	if err != nil {
		return
	}
	defer conn.Close()

	h2 := &http2.Server{MaxConcurrentStreams: f.maxStreams}
	h2.ServeConn(conn, &http2.ServeConnOpts{Context: r.Context(), Handler: http.HandlerFunc(f.serveEcho)})
}

func (f *fakeControl) serveEcho(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/wonder/echo" {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if f.corruptEcho && len(body) > 0 {
		body[len(body)/3] ^= 0xff
	}
	w.Write(body)
}

func writeEarlyPayload(_ int, w io.Writer) error {
	payload, err := json.Marshal(tailcfg.EarlyNoise{NodeKeyChallenge: key.NewChallenge().Public()})
	if err != nil {
		return err
	}
	header := make([]byte, 0, 9)
	header = append(header, ts2021.EarlyPayloadMagic...)
	header = binary.BigEndian.AppendUint32(header, uint32(len(payload)))
	_, err = w.Write(append(header, payload...))
	return err
}

func probeOptions(server *url.URL, transport string) options {
	return options{
		serverURL: server,
		transport: transport,
		size:      150000,
		path:      "/wonder/echo",
		streams:   3,
		timeout:   10 * time.Second,
	}
}

func runProbe(t *testing.T, opts options) (*result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout)
	defer cancel()
	return run(ctx, opts)
}

// expectStep checks that err is a *stepError for step whose message
// contains want.
func expectStep(t *testing.T, err error, step, want string) {
	t.Helper()
	t.Logf("probe error: %v", err)
	var se *stepError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want a %q step error", err, step)
	}
	if se.step != step {
		t.Errorf("step = %q, want %q (error: %v)", se.step, step, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestProbeEchoSucceeds(t *testing.T) {
	for _, transport := range []string{"http", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			fake := newFakeControl()
			res, err := runProbe(t, probeOptions(fake.start(t), transport))
			if err != nil {
				t.Fatal(err)
			}
			if res.Transport != transport {
				t.Errorf("transport = %q, want %q", res.Transport, transport)
			}
			if res.Peer != fake.noiseKey.Public().String() {
				t.Errorf("peer = %q, want the server key %q", res.Peer, fake.noiseKey.Public())
			}
			if !strings.HasPrefix(res.MachineKey, "mkey:") {
				t.Errorf("machineKey = %q, want an mkey: string", res.MachineKey)
			}
			if res.Bytes != 150000 {
				t.Errorf("bytes = %d, want 150000", res.Bytes)
			}
			if !res.Echoed {
				t.Error("echoed = false")
			}
			if res.Streams != 3 {
				t.Errorf("streams = %d, want 3", res.Streams)
			}
			if res.EarlyPayload {
				t.Error("earlyPayload = true for a server that sends none")
			}
		})
	}
}

func TestProbeReportsEarlyPayload(t *testing.T) {
	fake := newFakeControl()
	fake.sendEarly = true
	res, err := runProbe(t, probeOptions(fake.start(t), "http"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.EarlyPayload {
		t.Error("earlyPayload = false for a server that sends one")
	}
}

func TestProbeEmptyBody(t *testing.T) {
	opts := probeOptions(newFakeControl().start(t), "http")
	opts.size = 0
	if _, err := runProbe(t, opts); err != nil {
		t.Fatal(err)
	}
}

func TestProbeFetchKeyFails(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := &url.URL{Scheme: "http", Host: listener.Addr().String()}
	listener.Close()

	_, err = runProbe(t, probeOptions(closedURL, "http"))
	expectStep(t, err, "fetch key", "connection refused")
}

func TestProbeZeroServerKey(t *testing.T) {
	fake := newFakeControl()
	fake.advertisedKey = key.MachinePublic{}
	_, err := runProbe(t, probeOptions(fake.start(t), "http"))
	expectStep(t, err, "fetch key", "no publicKey")
}

func TestProbeUpgradeRejected(t *testing.T) {
	for _, transport := range []string{"http", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			fake := newFakeControl()
			fake.rejectUpgrade = true
			started := time.Now()
			_, err := runProbe(t, probeOptions(fake.start(t), transport))
			expectStep(t, err, "dial", "404")
			if elapsed := time.Since(started); elapsed > 5*time.Second {
				t.Errorf("probe took %v to report a rejected upgrade; it should not wait for the timeout", elapsed)
			}
		})
	}
}

func TestProbeWrongServerKey(t *testing.T) {
	for _, transport := range []string{"http", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			fake := newFakeControl()
			fake.advertisedKey = key.NewMachine().Public()
			started := time.Now()
			_, err := runProbe(t, probeOptions(fake.start(t), transport))
			expectStep(t, err, "handshake", "")
			if elapsed := time.Since(started); elapsed > 5*time.Second {
				t.Errorf("probe took %v to report a failed handshake; it should not wait for the timeout", elapsed)
			}
		})
	}
}

func TestProbeSingleStreamServer(t *testing.T) {
	fake := newFakeControl()
	fake.maxStreams = 1
	opts := probeOptions(fake.start(t), "http")
	opts.timeout = 3 * time.Second
	_, err := runProbe(t, opts)
	// Depending on timing, the HTTP/2 client receives REFUSED_STREAM or
	// requests a second connection. The probe reports either as a
	// concurrency failure.
	expectStep(t, err, "http2", "did not serve 3 concurrent streams")
}

func TestProbeEchoMismatch(t *testing.T) {
	fake := newFakeControl()
	fake.corruptEcho = true
	_, err := runProbe(t, probeOptions(fake.start(t), "http"))
	expectStep(t, err, "echo mismatch", "first difference at byte 50000")
}

func TestProbeEchoRouteMissing(t *testing.T) {
	opts := probeOptions(newFakeControl().start(t), "websocket")
	opts.path = "/no/such/route"
	_, err := runProbe(t, opts)
	expectStep(t, err, "echo", "404 Not Found")
}

func TestParseFlagsRejectsInvalid(t *testing.T) {
	cases := map[string][]string{
		"missing server":   {},
		"https server":     {"--server", "https://127.0.0.1:1"},
		"bad transport":    {"--server", "http://127.0.0.1:1", "--transport", "quic"},
		"negative size":    {"--server", "http://127.0.0.1:1", "--size", "-1"},
		"relative path":    {"--server", "http://127.0.0.1:1", "--path", "echo"},
		"zero streams":     {"--server", "http://127.0.0.1:1", "--streams", "0"},
		"extra argument":   {"--server", "http://127.0.0.1:1", "extra"},
		"non-positive ttl": {"--server", "http://127.0.0.1:1", "--timeout", "0s"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseFlags(args); err == nil {
				t.Errorf("parseFlags(%q) succeeded, want an error", args)
			}
		})
	}
}
