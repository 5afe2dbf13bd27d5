#if os(Linux)
import Foundation
import Glibc
@testable import GradiumBroker

/// A test-only WebSocket client (RFC 6455: ws:// to an IPv4 address, text frames, ping, close) over a
/// POSIX socket, for Linux, whose Foundation cannot hold a Gradium session (tests/clients/runners.py). Only
/// the wire is this; the session, its errors and retries are the package's, as an app runs them.
struct LoopbackSpeechConnector: SpeechConnector {
    func connect(_ url: URL, listener: SpeechSocketListener) -> SpeechSocket {
        let socket = LoopbackSocket(listener: listener)
        Thread { socket.run(url) }.start()
        return socket
    }
}

private struct Closed: Error {}

final class LoopbackSocket: SpeechSocket, @unchecked Sendable {
    private let listener: SpeechSocketListener
    private let lock = NSLock()
    private var fd: Int32 = -1
    private var opened = false
    private var closing = false
    private var early: [Data] = [] // frames sent before the handshake finished

    init(listener: SpeechSocketListener) {
        self.listener = listener
    }

    func send(_ text: String) {
        write(Self.frame(opcode: 0x1, payload: Data(text.utf8)))
    }

    func close(code: Int) {
        let sendClose = lock.withLock { () -> Bool in
            if closing { return false }
            closing = true
            return true
        }
        if sendClose { write(Self.frame(opcode: 0x8, payload: Data([UInt8(code >> 8), UInt8(code & 0xff)])), evenClosing: true) }
    }

    func run(_ url: URL) {
        do {
            let fd = try Self.connect(host: url.host ?? "", port: url.port ?? 80)
            lock.withLock { self.fd = fd }
            try Self.handshake(fd, url)
            let queued = lock.withLock { () -> [Data] in
                opened = true
                defer { early = [] }
                return early
            }
            for frame in queued { write(frame, evenClosing: true) }
            try read(fd)
        } catch {
            listener.onFailure(error)
        }
        lock.withLock { if fd >= 0 { _ = Glibc.close(fd); fd = -1 } }
    }

    private func write(_ frame: Data, evenClosing: Bool = false) {
        lock.withLock {
            if closing && !evenClosing { return }
            guard opened else { return early.append(frame) }
            frame.withUnsafeBytes { bytes in
                var sent = 0
                while sent < bytes.count {
                    let n = Glibc.send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                    if n <= 0 { return } // the reader sees the socket end
                    sent += n
                }
            }
        }
    }

    private func read(_ fd: Int32) throws {
        var message = Data()
        while true {
            let head = try Self.readExactly(fd, 2)
            var length = UInt64(head[1] & 0x7f)
            if length == 126 {
                length = try Self.readExactly(fd, 2).reduce(0) { $0 << 8 | UInt64($1) }
            } else if length == 127 {
                length = try Self.readExactly(fd, 8).reduce(0) { $0 << 8 | UInt64($1) }
            }
            let payload = try Self.readExactly(fd, Int(length)) // a server's frames are not masked
            switch head[0] & 0x0f {
            case 0x0, 0x1, 0x2:
                message.append(payload)
                if head[0] & 0x80 != 0 {
                    listener.onMessage(String(decoding: message, as: UTF8.self))
                    message = Data()
                }
            case 0x8:
                let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005
                close(code: code) // the closing handshake's answer, unless we began it
                _ = shutdown(fd, Int32(SHUT_RDWR))
                listener.onClosed(code: code, reason: String(decoding: payload.dropFirst(2), as: UTF8.self))
                return
            case 0x9:
                write(Self.frame(opcode: 0xA, payload: payload))
            default:
                continue
            }
        }
    }

    static func frame(opcode: UInt8, payload: Data) -> Data {
        var frame = Data([0x80 | opcode])
        let count = payload.count
        if count < 126 {
            frame.append(0x80 | UInt8(count))
        } else if count < 65536 {
            frame.append(contentsOf: [UInt8(0x80 | 126), UInt8(count >> 8), UInt8(count & 0xff)])
        } else {
            frame.append(UInt8(0x80 | 127))
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((count >> shift) & 0xff)) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) } // a client's frames are masked
        frame.append(contentsOf: mask)
        frame.append(contentsOf: payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        return frame
    }

    private static func connect(host: String, port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard fd >= 0, inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw Closed() }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            _ = Glibc.close(fd)
            throw Closed()
        }
        return fd
    }

    private static func handshake(_ fd: Int32, _ url: URL) throws {
        let parts = URLComponents(url: url, resolvingAgainstBaseURL: false)
        let target = (parts?.percentEncodedPath ?? "/") + (parts?.percentEncodedQuery.map { "?" + $0 } ?? "")
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request = "GET \(target) HTTP/1.1\r\nHost: \(url.host ?? ""):\(url.port ?? 80)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let bytes = Array(request.utf8)
        guard Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw Closed() }
        var answer = Data()
        while !answer.suffix(4).elementsEqual([13, 10, 13, 10]) { // byte by byte: no frame is read early
            answer.append(try readExactly(fd, 1))
        }
        guard String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 101") else { throw Closed() }
    }

    private static func readExactly(_ fd: Int32, _ count: Int) throws -> Data {
        var data = Data(count: count)
        var got = 0
        while got < count {
            let n = data.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n <= 0 { throw Closed() }
            got += n
        }
        return data
    }
}
#endif
