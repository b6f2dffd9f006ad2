package discovery

import "testing"

func TestClassify(t *testing.T) {
	cases := []struct {
		seg  string
		idx  int
		want segClass
	}{
		{"83121", 3, segInt},
		{"0", 2, segInt},
		{"3f2504e0-4f89-11d3-9a0c-0305e82c3301", 2, segUUID},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAV", 2, segULID},
		{"507f1f77bcf86cd799439011", 2, segObjectID},
		{"deadbeef42", 2, segHex},
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 2, segHex},
		{"dGhpc0lzQVRva2VuMTIzNDU2", 2, segToken},
		{"alice@example.com", 2, segEmail},
		{"2024-01-01", 3, segDate},
		{"2024-01-01", 0, segLiteral}, // a date version (Stripe/Azure style)
		{"2024-01-01T10:00:00Z", 1, segDate},
		{"INV-2024-000042", 2, segMixed},
		{"a8kd93jfq", 2, segMixed},
		{"v1", 0, segLiteral},
		{"v2beta1", 1, segLiteral},
		{"v7xkh19u", 2, segMixed}, // looks like a version prefix, is an id
		{"orders", 1, segLiteral},
		{"blue-widget", 2, segLiteral},
		{"oauth2", 1, segLiteral},
		{"base64", 1, segLiteral},
		{"John%20Doe", 2, segEncoded},
		// One digit: random letters are ids, words with a digit are not.
		{"wsq4txrdqhwnj", 2, segMixed},
		{"d5rssgdx", 2, segMixed},
		{"cvktj5oqe", 2, segMixed},
		{"oauth2callback", 2, segLiteral},
		{"ipv4addresses", 2, segLiteral},
		{"windowsPhone8", 2, segLiteral},
		{"s3buckets", 2, segLiteral},
	}
	for _, c := range cases {
		if got := classify(c.seg, c.idx); got != c.want {
			t.Errorf("classify(%q, %d) = %v, want %v", c.seg, c.idx, got, c.want)
		}
	}
}

func TestSplitExt(t *testing.T) {
	cases := []struct{ in, name, ext string }{
		{"report.pdf", "report", ".pdf"},
		{"83121.json", "83121", ".json"},
		{"v1.2", "v1.2", ""},
		{"1.0", "1.0", ""},
		{"abc123:cancel", "abc123", ":cancel"},
		{"archive.tar.gz", "archive.tar", ".gz"},
	}
	for _, c := range cases {
		n, e := splitExt(c.in)
		if n != c.name || e != c.ext {
			t.Errorf("splitExt(%q) = %q,%q want %q,%q", c.in, n, e, c.name, c.ext)
		}
	}
}

func TestParamName(t *testing.T) {
	cases := map[string]string{
		"orders": "orderId", "users": "userId", "categories": "categoryId", "line-items": "lineItemId",
		"addresses": "addressId", "v1": "id", "": "id", "status": "statusId", "boxes": "boxId",
	}
	for in, want := range cases {
		if got := paramName(in); got != want {
			t.Errorf("paramName(%q) = %q, want %q", in, got, want)
		}
	}
}
