<?php
// The "enhanced" variant that tutorials of the era added to learn why a push failed: command 1 with an
// identifier and an expiry, a non-blocking socket, and one read of the 6-byte error-response packet.
// Only the host, the port and the trusted CA come from the environment.

$deviceToken = getenv('DEVICE_TOKEN');
$passphrase = getenv('PASSPHRASE');
$message = getenv('MESSAGE');
$apple_identifier = (int) getenv('IDENTIFIER');
$apple_expiry = time() + (90 * 24 * 60 * 60); // keep it for 90 days

$ctx = stream_context_create();
stream_context_set_option($ctx, 'ssl', 'local_cert', 'ck.pem');
stream_context_set_option($ctx, 'ssl', 'passphrase', $passphrase);
stream_context_set_option($ctx, 'ssl', 'cafile', getenv('CA_FILE'));

$fp = stream_socket_client('ssl://' . getenv('APNS_HOST') . ':' . getenv('APNS_PORT'), $err, $errstr, 60,
	STREAM_CLIENT_CONNECT|STREAM_CLIENT_PERSISTENT, $ctx);
if (!$fp)
	exit("Failed to connect: $err $errstr" . PHP_EOL);

stream_set_blocking($fp, 0); // so that fread() below does not wait for an answer that success never sends

$payload = json_encode(array('aps' => array('alert' => $message, 'sound' => 'default')));
$msg = pack("C", 1) . pack("N", $apple_identifier) . pack("N", $apple_expiry) . pack("n", 32)
	. pack('H*', str_replace(' ', '', $deviceToken)) . pack("n", strlen($payload)) . $payload;
fwrite($fp, $msg);

usleep(500000); // give APNs half a second to answer with an error

$apple_error_response = fread($fp, 6);
if ($apple_error_response) {
	$error_response = unpack('Ccommand/Cstatus_code/Nidentifier', $apple_error_response);
	echo json_encode($error_response) . PHP_EOL;
} else {
	echo json_encode(null) . PHP_EOL;
}
fclose($fp);
