<?php
// The feedback reader of the era: connect to port 2196 with the same ck.pem, read 38-byte tuples
// (4-byte time, 2-byte length, 32-byte token) until the service closes. Host, port and CA from the environment.

$ctx = stream_context_create();
stream_context_set_option($ctx, 'ssl', 'local_cert', 'ck.pem');
stream_context_set_option($ctx, 'ssl', 'passphrase', getenv('PASSPHRASE'));
stream_context_set_option($ctx, 'ssl', 'cafile', getenv('CA_FILE'));

$fp = stream_socket_client('ssl://' . getenv('APNS_HOST') . ':' . getenv('APNS_PORT'), $err, $errstr, 60,
	STREAM_CLIENT_CONNECT, $ctx);
if (!$fp)
	exit("Failed to connect: $err $errstr" . PHP_EOL);

$feedback = array();
while ($devcon = fread($fp, 38)) {
	$arr = unpack("H*", $devcon);
	$rawhex = trim(implode("", $arr));
	$feedbackTime = hexdec(substr($rawhex, 0, 8));
	$feedbackLen = hexdec(substr($rawhex, 8, 4));
	$feedbackDeviceToken = substr($rawhex, 12, 64);
	$feedback[] = array('time' => $feedbackTime, 'token' => $feedbackDeviceToken);
}
fclose($fp);
echo json_encode($feedback) . PHP_EOL;
