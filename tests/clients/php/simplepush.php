<?php
// The classic tutorial snippet (simplepush.php) for Apple's binary interface, command 0, as it was written;
// only the host, the port and the trusted CA come from the environment (the tutorial hard-coded
// ssl://gateway.sandbox.push.apple.com:2195 and trusted the system store).

// Put your device token here (without spaces):
$deviceToken = getenv('DEVICE_TOKEN');

// Put your private key's passphrase here:
$passphrase = getenv('PASSPHRASE');

// Put your alert message here:
$message = getenv('MESSAGE');

////////////////////////////////////////////////////////////////////////////////

$ctx = stream_context_create();
stream_context_set_option($ctx, 'ssl', 'local_cert', 'ck.pem');
stream_context_set_option($ctx, 'ssl', 'passphrase', $passphrase);
stream_context_set_option($ctx, 'ssl', 'cafile', getenv('CA_FILE'));

// Open a connection to the APNS server
$fp = stream_socket_client(
	'ssl://' . getenv('APNS_HOST') . ':' . getenv('APNS_PORT'), $err,
	$errstr, 60, STREAM_CLIENT_CONNECT|STREAM_CLIENT_PERSISTENT, $ctx);

if (!$fp)
	exit("Failed to connect: $err $errstr" . PHP_EOL);

echo 'Connected to APNS' . PHP_EOL;

// Create the payload body
$body['aps'] = array(
	'alert' => $message,
	'sound' => 'default'
	);

// Encode the payload as JSON
$payload = json_encode($body);

// Build the binary notification
$msg = pack('CnH*n', 0, 32, $deviceToken, strlen($payload)) . $payload;

// Send it to the server
$result = fwrite($fp, $msg, strlen($msg));

if (!$result)
	echo 'Message not delivered' . PHP_EOL;
else
	echo 'Message successfully delivered' . PHP_EOL;

// Close the connection to the server
fclose($fp);
