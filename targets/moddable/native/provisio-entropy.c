/*
 * The host function of "provisio-entropy" (provisio-entropy.js): fills a buffer from the host's
 * random source, or throws. Neither Math.random() nor Moddable's `rng` module will do for a key:
 * on the Linux and macOS simulators Math.random() is the C library's rand(), never seeded, the
 * same on every run, and `rng` is RC4 seeded from it; on the ESP32 Math.random() gives 31 bits a
 * call. And the `file` module cannot read /dev/urandom on lin: it refuses to read past fstat's
 * st_size, which is 0 for a device.
 *   ESP32: esp_fill_random(), the hardware RNG, truly random while Wi-Fi or Bluetooth runs (the
 *          example app starts the client once the network is up);
 *   Linux: getrandom(2), which blocks only until the kernel's pool is first seeded;
 *   macOS: arc4random_buf(3), which cannot fail.
 */
#include "xsmc.h"

#if ESP32
	#include "esp_random.h"
#elif defined(__APPLE__)
	#include <stdlib.h>
#elif defined(__linux__)
	#include <errno.h>
	#include <sys/random.h>
#else
	#error "provisio-entropy: no random source for this platform"
#endif

void xs_provisio_entropy_fill(xsMachine *the)
{
	void *data;
	xsUnsignedValue count;

	xsmcGetBufferWritable(xsArg(0), &data, &count);
#if ESP32
	esp_fill_random(data, count);
#elif defined(__APPLE__)
	arc4random_buf(data, count);
#else
	uint8_t *bytes = data;
	while (count > 0) {
		ssize_t got = getrandom(bytes, count, 0);
		if (got < 0) {
			if (EINTR == errno)
				continue;
			xsUnknownError("getrandom failed");
		}
		bytes += got;
		count -= got;
	}
#endif
}
