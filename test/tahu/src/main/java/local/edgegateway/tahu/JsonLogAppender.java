// Tahu reports sequence, bdSeq and alias problems only through its log (slf4j -> logback): this appender turns
// those log lines into "tahu_log" events. Everything at WARN or above is reported; below that, only the lines in
// which Tahu notices an out-of-order seq, a bdSeq mismatch or decides to request a rebirth.
package local.edgegateway.tahu;

import java.util.List;
import java.util.Locale;

import org.slf4j.LoggerFactory;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.core.AppenderBase;

final class JsonLogAppender extends AppenderBase<ILoggingEvent> {
	/** Debug/info message templates that mean Tahu saw something wrong (Tahu 1.0.19's wording). */
	private static final List<String> NOTICES = List.of("out of sequence", "Mismatched bdSeq", "Requesting Rebirth",
			"Requesting a rebirth", "Timeout while reording", "Not requesting Rebirth", "requesting rebirth");

	static void install() {
		LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
		context.reset(); // drop logback's default console appender: stdout is for events
		JsonLogAppender appender = new JsonLogAppender();
		appender.setContext(context);
		appender.setName("json-events");
		appender.start();
		Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
		root.setLevel(Level.WARN);
		root.addAppender(appender);
		context.getLogger("org.eclipse.tahu").setLevel(Level.DEBUG);
	}

	@Override
	protected void append(ILoggingEvent e) {
		boolean notice = e.getLevel().isGreaterOrEqual(Level.WARN) || NOTICES.stream().anyMatch(n -> e.getMessage() != null
				&& e.getMessage().contains(n));
		if (!notice) return;
		String text = e.getFormattedMessage();
		IThrowableProxy t = e.getThrowableProxy();
		String error = t == null ? null : t.getClassName() + ": " + t.getMessage();
		HostHarness.emit("tahu_log", "level", e.getLevel().toString(), "kind", kind(text + " " + error),
				"logger", e.getLoggerName(), "message", text, "error", error);
	}

	private static String kind(String text) {
		String s = text.toLowerCase(Locale.ROOT);
		if (s.contains("alias")) return "alias";
		if (s.contains("bdseq") || s.contains("bd sequence")) return "bdSeq";
		if (s.contains("seq")) return "seq";
		if (s.contains("rebirth")) return "rebirth";
		return "other";
	}
}
