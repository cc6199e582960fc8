// Command controlprobe dials a control server the way a Tailscale v1.92.5
// client does and checks an echo route inside the Noise channel.
//
// It fetches the server's Noise key from /key and opens a ts2021 connection
// (HTTP upgrade or WebSocket) with a fresh machine key, using Tailscale's own
// client code. Over that connection it speaks HTTP/2 and POSTs random bodies
// on several concurrent streams to an echo route, which must return each body
// unchanged with status 200.
//
// On success it prints one JSON line to stdout, for example
//
//	{"transport":"http","peer":"mkey:…","machineKey":"mkey:…","bytes":150000,"echoed":true,"streams":3,"earlyPayload":false}
//
// On failure it prints "controlprobe: <step>: <error>" to stderr and exits
// with status 1. The step is one of: fetch key, dial, handshake, http2, echo,
// echo mismatch. Invalid flags exit with status 2.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"strings"
	"time"

	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// options are the parsed command-line flags.
type options struct {
	serverURL *url.URL
	transport string
	size      int
	path      string
	streams   int
	timeout   time.Duration
	verbose   bool
}

// result is the JSON line printed on success.
type result struct {
	Transport string `json:"transport"`
	// Peer is the server's Noise static key that the handshake authenticated.
	Peer string `json:"peer"`
	// MachineKey is the probe's own machine public key, which the server
	// receives in the handshake.
	MachineKey string `json:"machineKey"`
	// Bytes is the body size of each stream.
	Bytes   int  `json:"bytes"`
	Echoed  bool `json:"echoed"`
	Streams int  `json:"streams"`
	// EarlyPayload reports whether the server sent a tailcfg.EarlyNoise
	// message before its HTTP/2 frames.
	EarlyPayload bool `json:"earlyPayload"`
}

// stepError is a failure tagged with the probe step that produced it.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func stepErrorf(step, format string, args ...any) error {
	return &stepError{step: step, err: fmt.Errorf(format, args...)}
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "controlprobe: %v\n", err)
		}
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout)
	defer cancel()

	res, err := run(ctx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "controlprobe: %v\n", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintf(os.Stderr, "controlprobe: writing result: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("controlprobe", flag.ContinueOnError)
	server := fs.String("server", "", "login server URL, e.g. http://127.0.0.1:8080 (required; only http:// is supported)")
	transport := fs.String("transport", "http", "ts2021 transport: http (POST /ts2021 upgrade, as tailscaled) or websocket (GET /ts2021, as the js/wasm client)")
	size := fs.Int("size", 150000, "request body size in bytes for each stream")
	path := fs.String("path", "/wonder/echo", "path of the echo route inside the Noise channel")
	streams := fs.Int("streams", 3, "number of concurrent HTTP/2 streams, all on one Noise connection")
	timeout := fs.Duration("timeout", 30*time.Second, "time limit for the whole probe")
	verbose := fs.Bool("verbose", false, "log Tailscale's dialer messages to stderr")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q; all options are flags", fs.Args())
	}

	if *server == "" {
		return options{}, errors.New("missing --server; pass the login server URL, e.g. --server http://127.0.0.1:8080")
	}
	serverURL, err := url.Parse(*server)
	if err != nil {
		return options{}, fmt.Errorf("invalid --server %q: %v", *server, err)
	}
	if serverURL.Scheme != "http" || serverURL.Host == "" {
		return options{}, fmt.Errorf("invalid --server %q: expected http://HOST[:PORT][/PREFIX]", *server)
	}
	if *transport != "http" && *transport != "websocket" {
		return options{}, fmt.Errorf("invalid --transport %q: expected http or websocket", *transport)
	}
	if *size < 0 {
		return options{}, fmt.Errorf("invalid --size %d: must be 0 or more bytes", *size)
	}
	if !strings.HasPrefix(*path, "/") {
		return options{}, fmt.Errorf("invalid --path %q: must start with /", *path)
	}
	if *streams < 1 {
		return options{}, fmt.Errorf("invalid --streams %d: must be at least 1", *streams)
	}
	if *timeout <= 0 {
		return options{}, fmt.Errorf("invalid --timeout %v: must be positive", *timeout)
	}

	return options{
		serverURL: serverURL,
		transport: *transport,
		size:      *size,
		path:      *path,
		streams:   *streams,
		timeout:   *timeout,
		verbose:   *verbose,
	}, nil
}

// run performs the probe steps in order and returns the first failure as a
// *stepError.
func run(ctx context.Context, opts options) (*result, error) {
	logf := logger.Discard
	if opts.verbose {
		logf = log.New(os.Stderr, "controlprobe: ", log.LstdFlags|log.Lmicroseconds).Printf
	}

	controlKey, err := fetchServerKey(ctx, opts.serverURL)
	if err != nil {
		return nil, &stepError{step: "fetch key", err: err}
	}

	machineKey := key.NewMachine()
	conn, err := dialNoise(ctx, opts.transport, opts.serverURL, machineKey, controlKey, logf)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	if got := conn.Peer(); got != controlKey {
		return nil, stepErrorf("handshake", "connection peer %v differs from the /key publicKey %v", got, controlKey)
	}

	earlyPayload, err := runEchoStreams(ctx, conn, echoRequest{
		host:    opts.serverURL.Hostname(),
		path:    opts.path,
		size:    opts.size,
		streams: opts.streams,
	})
	if err != nil {
		return nil, err
	}

	return &result{
		Transport:    opts.transport,
		Peer:         conn.Peer().String(),
		MachineKey:   machineKey.Public().String(),
		Bytes:        opts.size,
		Echoed:       true,
		Streams:      opts.streams,
		EarlyPayload: earlyPayload,
	}, nil
}
