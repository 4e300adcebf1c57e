package mail_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/mail"
)

// fakeSMTP accepts one message and returns what it received.
func fakeSMTP(t *testing.T) (addr string, got <-chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 1)
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		say := func(s string) { c.Write([]byte(s + "\r\n")) }
		say("220 fake")
		var data strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
				say("250 fake")
			case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"):
				data.WriteString(line)
				say("250 ok")
			case cmd == "DATA":
				say("354 go")
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
					data.WriteString(l)
				}
				say("250 queued")
			case cmd == "QUIT":
				say("221 bye")
				ch <- data.String()
				return
			default:
				say("502 no")
			}
		}
	}()
	return ln.Addr().String(), ch
}

func TestSMTPSends(t *testing.T) {
	addr, got := fakeSMTP(t)
	m := mail.SMTP{URL: "smtp://" + addr, From: "gatehouse@example.com"}
	err := m.Send(context.Background(), mail.Message{To: "ann@example.com", Subject: "Reset your password", Text: "line one\nline two"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		for _, want := range []string{"MAIL FROM:<gatehouse@example.com>", "RCPT TO:<ann@example.com>", "Subject: Reset your password", "line one\r\nline two"} {
			if !strings.Contains(s, want) {
				t.Errorf("message lacks %q:\n%s", want, s)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
}

func TestSMTPRefusesHeaderInjectionAndBadURLs(t *testing.T) {
	m := mail.SMTP{URL: "smtp://127.0.0.1:1", From: "a@example.com"}
	if err := m.Send(context.Background(), mail.Message{To: "ann@example.com\r\nBcc: eve@example.com", Subject: "x"}); err == nil || !strings.Contains(err.Error(), "injection") {
		t.Fatalf("header injection: %v", err)
	}
	for _, u := range []string{"", "http://x", "smtp://"} {
		if err := (mail.SMTP{URL: u, From: "a@example.com"}).Send(context.Background(), mail.Message{To: "b@example.com"}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}
