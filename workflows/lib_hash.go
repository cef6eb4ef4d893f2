package workflows

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
)

// hashes are the algorithms hash.compute_checksum and hash.compute_hmac
// accept, by the exact names their reference pages list.
var hashes = map[string]func() hash.Hash{
	"MD5":    md5.New,
	"SHA1":   sha1.New,
	"SHA224": sha256.New224,
	"SHA256": sha256.New,
	"SHA384": sha512.New384,
	"SHA512": sha512.New,
}

// addHash registers hash.compute_checksum(data, algorithm) and
// hash.compute_hmac(key, data, algorithm); both take and return bytes.
func addHash() {
	register("hash.compute_checksum", []string{"data", "algorithm"}, 2, func(c *call) (any, error) {
		data, err := c.bytes(0)
		if err != nil {
			return nil, err
		}
		newHash, err := hashAlgorithm(c, 1)
		if err != nil {
			return nil, err
		}
		h := newHash()
		h.Write(data)
		return h.Sum(nil), nil
	})
	register("hash.compute_hmac", []string{"key", "data", "algorithm"}, 3, func(c *call) (any, error) {
		key, err := c.bytes(0)
		if err != nil {
			return nil, err
		}
		data, err := c.bytes(1)
		if err != nil {
			return nil, err
		}
		newHash, err := hashAlgorithm(c, 2)
		if err != nil {
			return nil, err
		}
		h := hmac.New(newHash, key)
		h.Write(data)
		return h.Sum(nil), nil
	})
}

func hashAlgorithm(c *call, i int) (func() hash.Hash, error) {
	name, err := c.str(i)
	if err != nil {
		return nil, err
	}
	newHash, ok := hashes[name]
	if !ok {
		return nil, valueErrorf("%s: unsupported hashing algorithm %q (supported: MD5, SHA1, SHA224, SHA256, SHA384, SHA512)", c.name, name)
	}
	return newHash, nil
}
