/*
 * A reader of Server-Sent Events from a fetch() Response (EventSource
 * cannot send the Authorization header): `event:` and `data:` lines,
 * comments, LF or CRLF line ends, one callback per event.
 */

/* Index of the first line end in `text`, or -1 (a lone trailing CR waits for more). */
function lineEnd(text) {
    for (let i = 0; i < text.length; i++) {
        if (text[i] === '\n')
            return i;
        if (text[i] === '\r')
            return i + 1 < text.length ? i : -1;
    }
    return -1;
}

/*
 * Reads the frames of `response` and calls onEvent(event, data) for each
 * event with data. Resolves true as soon as onEvent returns true, false
 * when the stream ends or breaks first; an AbortError is thrown on.
 */
export async function readEvents(response, onEvent) {
    if (!response.body)
        return false;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '', event = 'message', data = [];
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done)
                return false;
            buffer += decoder.decode(value, { stream: true });
            let cut;
            while ((cut = lineEnd(buffer)) >= 0) {
                const line = buffer.slice(0, cut);
                buffer = buffer.slice(buffer[cut] === '\r' && buffer[cut + 1] === '\n' ? cut + 2 : cut + 1);
                if (line === '') {
                    if (data.length && onEvent(event, data.join('\n')))
                        return true;
                    event = 'message';
                    data = [];
                } else if (!line.startsWith(':')) {
                    const colon = line.indexOf(':');
                    const field = colon < 0 ? line : line.slice(0, colon);
                    let value = colon < 0 ? '' : line.slice(colon + 1);
                    if (value.startsWith(' '))
                        value = value.slice(1);
                    if (field === 'event')
                        event = value;
                    else if (field === 'data')
                        data.push(value);
                }
            }
        }
    } catch (err) {
        if (err.name === 'AbortError')
            throw err;
        return false;
    } finally {
        reader.cancel().catch(() => undefined);
    }
}
