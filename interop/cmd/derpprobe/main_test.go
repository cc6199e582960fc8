package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"tailscale.com/derp/derpserver"
	"tailscale.com/net/stun"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
)

// goRelay runs Tailscale's own DERP server behind a self-signed TLS
// certificate and returns the region that pins it, so the probe can be
// checked against the reference implementation.
func goRelay(t *testing.T) *tailcfg.DERPRegion {
	t.Helper()
	server := derpserver.New(key.NewNode(), t.Logf)
	t.Cleanup(func() { server.Close() })
	ts := httptest.NewUnstartedServer(derpserver.Handler(server))
	ts.StartTLS()
	t.Cleanup(ts.Close)

	port, err := strconv.Atoi(ts.Listener.Addr().String()[strings.LastIndex(ts.Listener.Addr().String(), ":")+1:])
	if err != nil {
		t.Fatal(err)
	}
	pin := fmt.Sprintf("sha256-raw:%02x", sha256.Sum256(ts.Certificate().Raw))
	return &tailcfg.DERPRegion{
		RegionID:   900,
		RegionCode: "test",
		Nodes:      []*tailcfg.DERPNode{{Name: "900a", RegionID: 900, HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none", DERPPort: port, CertName: pin}},
	}
}

func testOptions(region *tailcfg.DERPRegion) options {
	return options{mode: "exchange", region: region, keyA: key.NewNode(), keyB: key.NewNode(), count: 40, size: 1200, timeout: 20 * time.Second}
}

func TestExchangeWithGoRelay(t *testing.T) {
	o := testOptions(goRelay(t))
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	res, err := runExchange(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.ReceivedA != o.count || res.ReceivedB != o.count {
		t.Errorf("received %d and %d packets, expected %d each", res.ReceivedA, res.ReceivedB, o.count)
	}
	if res.PeerGone != o.keyB.Public().String() || res.Reason != 0 {
		t.Errorf("PeerGone %q reason %d, expected %q reason 0", res.PeerGone, res.Reason, o.keyB.Public())
	}
	if res.TLSVersion != "TLS 1.3" {
		t.Errorf("TLS version %q, expected TLS 1.3", res.TLSVersion)
	}
}

func TestExchangeFailsOnWrongPin(t *testing.T) {
	region := goRelay(t)
	region.Nodes[0].CertName = "sha256-raw:" + strings.Repeat("00", 32)
	o := testOptions(region)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := runExchange(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "cert hash does not match") {
		t.Fatalf("error %v, expected a certificate hash mismatch", err)
	}
}

// goSTUN answers binding requests on a loopback UDP port with Tailscale's
// own STUN encoding. (stuntest.Serve would listen on every interface.)
func goSTUN(t *testing.T) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			tx, err := stun.ParseBindingRequest(buf[:n])
			if err != nil {
				t.Logf("STUN server dropped a packet: %v", err)
				continue
			}
			conn.WriteToUDPAddrPort(stun.Response(tx, from), from)
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestSTUNWithGoServer(t *testing.T) {
	o := options{mode: "stun", stunAddr: goSTUN(t).String(), timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	res, err := runSTUN(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Address != res.Local {
		t.Errorf("mapped address %s, expected %s", res.Address, res.Local)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "exchange"}, "missing --region"},
		{[]string{"--mode", "stun"}, "missing --stun"},
		{[]string{"--mode", "dance"}, `invalid --mode "dance"`},
		{[]string{"--region", `{"Nodes":[{}]}`, "--size", "70000"}, "invalid --size 70000"},
		{[]string{"--region", `{"Nodes":[{}]}`, "--key-a", "nodekey:00"}, "invalid --key-a"},
		{[]string{"--region", `{}`}, "it has no nodes"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, expected an error containing %q", tc.args, err, tc.want)
		}
	}
}
