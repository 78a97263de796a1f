package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// notifier sends systemd service notifications (sd_notify) to $NOTIFY_SOCKET, so a unit of
// Type=notify is "started" only once the CRI socket accepts connections. It is a datagram
// write of "KEY=value" lines: no systemd library needed.
type notifier struct{ addr string }

// newNotifier takes $NOTIFY_SOCKET and removes it from the environment, so the processes
// the daemon starts (monitors, CNI plugins) do not inherit it.
func newNotifier() notifier {
	addr := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	return notifier{addr: addr}
}

// notify sends state; it does nothing when the daemon was not started by systemd.
func (n notifier) notify(state string) error {
	if n.addr == "" {
		return nil
	}
	name := n.addr
	if strings.HasPrefix(name, "@") { // abstract namespace socket
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr, err)
	}
	return nil
}
