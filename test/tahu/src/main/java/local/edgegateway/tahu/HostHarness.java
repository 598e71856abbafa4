// Eclipse Tahu's host application as an independent Sparkplug B peer: one JSON line per event on stdout.
//
//   java -cp 'libs/*' local.edgegateway.tahu.HostHarness --url tcp://127.0.0.1:1883
//        [--host-id ID] [--client-id ID] [--topic spBv1.0/#] [--exit-on-stdin-eof]
//
// Events ("event" field): start, connected, disconnected, NBIRTH, DBIRTH, NDATA, DDATA, NDEATH, DDEATH (one per
// message Tahu accepted, with seq/bdSeq), birth_metric and data (one per metric, name resolved from its alias by
// Tahu), rebirth_request (every NCMD Tahu sends on its own), tahu_log (Tahu's warnings and errors, and the debug
// lines in which it notices an out-of-order seq or a bdSeq mismatch), stopped.
package local.edgegateway.tahu;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.eclipse.tahu.host.HostApplication;
import org.eclipse.tahu.host.api.MultiHostApplicationEventHandler;
import org.eclipse.tahu.message.SparkplugBPayloadDecoder;
import org.eclipse.tahu.message.model.DeviceDescriptor;
import org.eclipse.tahu.message.model.EdgeNodeDescriptor;
import org.eclipse.tahu.message.model.Message;
import org.eclipse.tahu.message.model.MessageType;
import org.eclipse.tahu.message.model.Metric;
import org.eclipse.tahu.message.model.SparkplugBPayload;
import org.eclipse.tahu.message.model.SparkplugDescriptor;
import org.eclipse.tahu.message.model.Topic;
import org.eclipse.tahu.model.MqttServerDefinition;
import org.eclipse.tahu.mqtt.MqttClientId;
import org.eclipse.tahu.mqtt.MqttServerName;
import org.eclipse.tahu.mqtt.MqttServerUrl;

import com.fasterxml.jackson.databind.ObjectMapper;

public final class HostHarness {
	private static final ObjectMapper JSON = new ObjectMapper();
	private static PrintStream out;

	/** Writes one event as a JSON line; the only writer of the real stdout. */
	static synchronized void emit(String event, Object... keyValues) {
		Map<String, Object> line = new LinkedHashMap<>();
		line.put("event", event);
		line.put("at", System.currentTimeMillis());
		for (int i = 0; i + 1 < keyValues.length; i += 2) {
			if (keyValues[i + 1] != null) line.put((String) keyValues[i], keyValues[i + 1]);
		}
		try {
			out.println(JSON.writeValueAsString(line));
		} catch (Exception e) {
			out.println("{\"event\":\"harness_error\",\"message\":" + JSON.valueToTree(String.valueOf(e)) + "}");
		}
	}

	public static void main(String[] args) throws Exception {
		// Keep stdout for events only: anything else that prints (libraries, status messages) goes to stderr.
		out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
		System.setOut(System.err);
		JsonLogAppender.install();

		String url = null, hostId = null, clientId = "tahu-harness-" + ProcessHandle.current().pid(), topic = "spBv1.0/#";
		boolean exitOnStdinEof = false;
		if (args.length == 1 && args[0].equals("--decode")) {
			decodeLines();
			return;
		}
		for (int i = 0; i < args.length; i++) {
			switch (args[i]) {
				case "--url" -> url = args[++i];
				case "--host-id" -> hostId = args[++i];
				case "--client-id" -> clientId = args[++i];
				case "--topic" -> topic = args[++i];
				case "--exit-on-stdin-eof" -> exitOnStdinEof = true;
				default -> {
					System.err.println("usage: HostHarness --url tcp://HOST:PORT [--host-id ID] [--client-id ID] [--topic T] [--exit-on-stdin-eof]");
					System.exit(2);
				}
			}
		}
		if (url == null) {
			System.err.println("--url is required (e.g. tcp://127.0.0.1:1883)");
			System.exit(2);
		}

		MqttServerName server = new MqttServerName("gateway-broker");
		MqttServerDefinition definition = new MqttServerDefinition(server, new MqttClientId(clientId, false),
				new MqttServerUrl(url), null, null, 30, null);
		RecordingHost host = new RecordingHost(new Events(), hostId, List.of(topic), List.of(definition));
		emit("start", "tahu", tahuVersion(), "url", url, "hostId", hostId,
				"clientId", clientId, "topic", topic);
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			host.shutdown();
			emit("stopped");
		}));
		host.start(true);

		if (exitOnStdinEof) {
			// The parent holds our stdin: when it goes away, so do we.
			while (System.in.read() >= 0) {
				// discard
			}
			System.exit(0);
		}
		Thread.currentThread().join();
	}

	/**
	 * Tahu's payload decoder alone: one Sparkplug B payload per stdin line, as hex; one "decoded" event per line
	 * with the metrics as Tahu reads them (or "decode_error").
	 */
	private static void decodeLines() throws IOException {
		SparkplugBPayloadDecoder decoder = new SparkplugBPayloadDecoder();
		java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.US_ASCII));
		for (String line; (line = in.readLine()) != null;) {
			line = line.trim();
			if (line.isEmpty()) continue;
			try {
				byte[] bytes = java.util.HexFormat.of().parseHex(line);
				SparkplugBPayload p = decoder.buildFromByteArray(bytes, null);
				List<Map<String, Object>> list = new ArrayList<>();
				for (Metric m : p.getMetrics()) {
					Map<String, Object> map = metric(m);
					// 64-bit values as text, so that no JSON reader rounds them.
					if (m.getValue() instanceof Long || m.getValue() instanceof java.math.BigInteger) map.put("value", String.valueOf(m.getValue()));
					list.add(map);
				}
				emit("decoded", "metrics", list);
			} catch (Exception e) {
				emit("decode_error", "message", String.valueOf(e));
			}
		}
	}

	private static String tahuVersion() {
		Properties p = new Properties();
		try (InputStream in = HostHarness.class.getResourceAsStream("/tahu-harness.properties")) {
			if (in != null) p.load(in);
		} catch (IOException e) {
			// reported as unknown
		}
		return p.getProperty("tahu.version", "unknown");
	}

	/** Tahu's host application; every command it publishes on its own (rebirth requests) is reported. */
	static final class RecordingHost extends HostApplication {
		RecordingHost(MultiHostApplicationEventHandler handler, String hostId, List<String> topics,
				List<MqttServerDefinition> servers) {
			super(handler, hostId, topics, servers, null, new SparkplugBPayloadDecoder(), true);
		}

		@Override
		public void publishCommand(MqttServerName server, Topic topic, SparkplugBPayload payload) throws Exception {
			emit(isRebirth(payload) ? "rebirth_request" : "command", "topic", topic.toString(), "metrics",
					metrics(payload.getMetrics()));
			super.publishCommand(server, topic, payload);
		}

		private static boolean isRebirth(SparkplugBPayload payload) {
			return payload.getMetrics().stream()
					.anyMatch(m -> "Node Control/Rebirth".equals(m.getName()) && Boolean.TRUE.equals(m.getValue()));
		}
	}

	static List<Map<String, Object>> metrics(List<Metric> metrics) {
		List<Map<String, Object>> list = new ArrayList<>();
		for (Metric m : metrics) list.add(metric(m));
		return list;
	}

	static Map<String, Object> metric(Metric m) {
		Map<String, Object> map = new LinkedHashMap<>();
		map.put("name", m.getName());
		if (m.hasAlias()) map.put("alias", m.getAlias());
		map.put("type", m.getDataType() == null ? null : m.getDataType().getType());
		Object v = m.getValue();
		map.put("value", v == null || v instanceof Number || v instanceof Boolean || v instanceof String ? v : String.valueOf(v));
		return map;
	}

	/** Where the descriptor points: group, node and (for a device) device. */
	static Object[] where(SparkplugDescriptor d) {
		EdgeNodeDescriptor node = d instanceof DeviceDescriptor dev ? dev.getEdgeNodeDescriptor() : (EdgeNodeDescriptor) d;
		return new Object[] { "group", node.getGroupId(), "node", node.getEdgeNodeId(), "device",
				d instanceof DeviceDescriptor dev ? dev.getDeviceId() : null };
	}

	static Object[] concat(Object[] a, Object... b) {
		Object[] all = new Object[a.length + b.length];
		System.arraycopy(a, 0, all, 0, a.length);
		System.arraycopy(b, 0, all, a.length, b.length);
		return all;
	}

	/** Tahu's callbacks. A message event is emitted only for what Tahu accepted (onMessage). */
	static final class Events implements MultiHostApplicationEventHandler {
		@Override
		public void onConnect(MqttServerName server) {
			emit("connected", "server", server.toString());
		}

		@Override
		public void onDisconnect(MqttServerName server) {
			emit("disconnected", "server", server.toString());
		}

		@Override
		public void onMessage(MqttServerName server, SparkplugDescriptor d, Message message) {
			SparkplugBPayload p = message.getPayload();
			MessageType type = message.getTopic().getType();
			Long bdSeq = null;
			if (type == MessageType.NBIRTH || type == MessageType.NDEATH) {
				for (Metric m : p.getMetrics()) {
					if ("bdSeq".equals(m.getName()) && m.getValue() instanceof Number n) bdSeq = n.longValue();
				}
			}
			emit(type.name(), concat(where(d), "seq", p.getSeq(), "bdSeq", bdSeq, "metricCount", p.getMetrics().size()));
		}

		@Override
		public void onBirthMetric(MqttServerName server, SparkplugDescriptor d, Metric metric) {
			emit("birth_metric", concat(where(d), "metric", metric(metric)));
		}

		@Override
		public void onDataMetric(MqttServerName server, SparkplugDescriptor d, Metric metric) {
			emit("data", concat(where(d), "metric", metric(metric)));
		}

		// Arrival/complete callbacks carry nothing onMessage does not; stale marks follow every death.
		@Override public void onNodeBirthArrived(MqttServerName s, EdgeNodeDescriptor d, Message m) {}
		@Override public void onNodeBirthComplete(MqttServerName s, EdgeNodeDescriptor d) {}
		@Override public void onNodeDataArrived(MqttServerName s, EdgeNodeDescriptor d, Message m) {}
		@Override public void onNodeDataComplete(MqttServerName s, EdgeNodeDescriptor d) {}
		@Override public void onNodeDeath(MqttServerName s, EdgeNodeDescriptor d, Message m) {}
		@Override public void onNodeDeathComplete(MqttServerName s, EdgeNodeDescriptor d) {}
		@Override public void onDeviceBirthArrived(MqttServerName s, DeviceDescriptor d, Message m) {}
		@Override public void onDeviceBirthComplete(MqttServerName s, DeviceDescriptor d) {}
		@Override public void onDeviceDataArrived(MqttServerName s, DeviceDescriptor d, Message m) {}
		@Override public void onDeviceDataComplete(MqttServerName s, DeviceDescriptor d) {}
		@Override public void onDeviceDeath(MqttServerName s, DeviceDescriptor d, Message m) {}
		@Override public void onDeviceDeathComplete(MqttServerName s, DeviceDescriptor d) {}
		@Override public void onStale(MqttServerName s, SparkplugDescriptor d, Metric m) {}
	}
}
