package notifier_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/lapps/lapps/notifier"
)

// The signature of a delivery, as the webhook's receiver recomputes it:
// with the secret "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", the HMAC-SHA256
// of "A2EQK4WBSF2PYYRJSR76LCFOZU.1767225600.<body>", in base64 after "v1,".
func ExampleSign() {
	body := []byte(`{"delivery_id":"A2EQK4WBSF2PYYRJSR76LCFOZU","notifications":[]}`)
	sig, err := notifier.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "A2EQK4WBSF2PYYRJSR76LCFOZU", time.Unix(1767225600, 0), body)
	if err != nil {
		panic(err)
	}
	fmt.Println(sig)
	// Output: v1,POrxWYzuex5NJn4/x2NYgjNeirMT9wOJmoFjRrtO8vc=
}

// A receiver checks the headers and body it got; a delivery captured and
// sent again after the tolerance (5 minutes) is refused.
func ExampleVerify() {
	body := []byte(`{"delivery_id":"A2EQK4WBSF2PYYRJSR76LCFOZU","notifications":[]}`)
	h := http.Header{}
	h.Set("webhook-id", "A2EQK4WBSF2PYYRJSR76LCFOZU")
	h.Set("webhook-timestamp", "1767225600")
	h.Set("webhook-signature", "v1,POrxWYzuex5NJn4/x2NYgjNeirMT9wOJmoFjRrtO8vc=")
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

	fmt.Println(notifier.Verify(secret, h, body, time.Unix(1767225600+2, 0), 0))
	fmt.Println(notifier.Verify(secret, h, body, time.Unix(1767225600+301, 0), 0))
	// Output:
	// <nil>
	// webhook: timestamp outside the tolerance: webhook-timestamp is 5m1s from now, more than 5m0s
}
