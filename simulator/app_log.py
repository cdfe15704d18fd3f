"""The Java services' application logs (Spring Boot / logback console pattern):

    %d{yyyy-MM-dd HH:mm:ss.SSS} %5p ${PID} --- [%15.15t] %-40.40logger{39} : %m%n%wEx

Request-scoped lines carry `[traceId=<nginx $request_id>]` at the start of the message, so an
nginx line and the service's lines join on it. Every 500 in nginx has an ERROR entry with a
multi-line stack trace (exception lines, `\\tat ...` frames, `Caused by: ...`, `\\t... N more`,
MyBatis `### ...` lines) in the log of the service that failed. Scheduled jobs log without a
trace id; some WARN lines (slow requests, expired tokens, pool starvation).
"""

from __future__ import annotations

from datetime import date

from simulator.activity import Action
from simulator.nginx_log import AccessLog
from simulator.randomness import FastRandom
from simulator.routing import APP_SERVICES
from simulator.screens import pay_channel
from simulator.sessions import DAY_MS

PID = 7


def thread_field(name: str) -> str:
    """A thread name as %15.15t prints it: its last 15 characters, right-aligned."""
    return f"{name[-15:]:>15}"


_HOUSEKEEPER = thread_field("HikariPool-1 housekeeper")
_THREADS = tuple(thread_field(f"http-nio-8080-exec-{k}") for k in range(1, 201))

# kind -> (service's logger, message after the trace id); fields come from the Action.
ACTION_MESSAGES: dict[str, tuple[str, str]] = {
    "register": (
        "c.shifu.user.web.AuthController",
        "User registered userId={user_id} role={role} city={city}",
    ),
    "order_submit": (
        "c.shifu.order.web.OrderController",
        "Order created orderNo={order_no} merchantId={user_id} "
        "category={category} city={city} amountFen={amount_fen}",
    ),
    "order_cancel": (
        "c.shifu.order.web.OrderController",
        "Order cancelled orderNo={order_no} orderId={order_id} by={user_id}",
    ),
    "quote_submit": (
        "c.shifu.order.web.QuoteController",
        "Quote submitted orderId={order_id} quoteId={quote_id} masterUserId={user_id}"
        " amountFen={amount_fen}",
    ),
    "quote_withdraw": (
        "c.shifu.order.web.QuoteController",
        "Quote withdrawn orderId={order_id} quoteId={quote_id} masterUserId={user_id}",
    ),
    "quote_accept": (
        "c.shifu.order.web.QuoteController",
        "Quote accepted orderId={order_id} quoteId={quote_id} merchantId={user_id}",
    ),
    "dispatch_accept": (
        "c.shifu.master.web.DispatchController",
        "Dispatch accepted dispatchId={dispatch_id} orderId={order_id} masterUserId={user_id}",
    ),
    "dispatch_decline": (
        "c.shifu.master.web.DispatchController",
        "Dispatch declined dispatchId={dispatch_id} orderId={order_id} masterUserId={user_id}",
    ),
    "schedule_confirm": (
        "c.shifu.order.web.ServiceController",
        "Appointment confirmed orderId={order_id} masterUserId={user_id}",
    ),
    "service_checkin": (
        "c.shifu.order.web.ServiceController",
        "Master checked in orderId={order_id} masterUserId={user_id}",
    ),
    "service_finish": (
        "c.shifu.order.web.ServiceController",
        "Service finished orderId={order_id} masterUserId={user_id}",
    ),
    "order_confirm": (
        "c.shifu.order.web.OrderController",
        "Order confirmed orderNo={order_no} orderId={order_id} by={user_id}",
    ),
    "payment_submit": (
        "c.shifu.pay.web.PaymentController",
        "Payment created orderId={order_id} merchantId={user_id} "
        "amountFen={amount_fen} channel={channel}",
    ),
    "review_submit": (
        "c.shifu.order.web.ReviewController",
        "Review saved orderId={order_id} score={score} customerUserId={user_id}",
    ),
    "complaint_submit": (
        "c.shifu.order.web.ComplaintController",
        "Complaint opened orderId={order_id} by={user_id} role={role}",
    ),
}
# A second line some actions log (domain events, payment gateway calls).
FOLLOW_UPS: dict[str, tuple[str, str]] = {
    "order_submit": (
        "c.shifu.order.mq.OrderEventPublisher",
        "Published ORDER_CREATED orderNo={order_no} topic=order-events",
    ),
    "quote_accept": (
        "c.shifu.order.mq.OrderEventPublisher",
        "Published ORDER_ASSIGNED orderId={order_id} topic=order-events",
    ),
    "payment_submit": (
        "c.shifu.pay.gateway.PayGatewayClient",
        "Prepay ok channel={channel} orderId={order_id} costMs={cost}",
    ),
}

_HANDLER = "c.s.common.web.GlobalExceptionHandler"  # logback {39} abbreviates it
_STACKS: dict[str, tuple[str, ...]] = {
    "order-service": (
        "org.springframework.dao.CannotAcquireLockException: \n"
        "### Error updating database.  Cause: com.mysql.cj.jdbc.exceptions."
        "MySQLTransactionRollbackException: Deadlock found when trying to get lock; try "
        "restarting transaction\n"
        "### The error may exist in com/shifu/order/mapper/ServiceOrderMapper.xml\n"
        "### SQL: update service_order set status = ?, updated_at = ? where id = ? and status = ?\n"
        "\tat org.springframework.jdbc.support.SQLErrorCodeSQLExceptionTranslator.doTranslate("
        "SQLErrorCodeSQLExceptionTranslator.java:267)\n"
        "\tat org.mybatis.spring.MyBatisExceptionTranslator.translateExceptionIfPossible("
        "MyBatisExceptionTranslator.java:88)\n"
        "\tat com.shifu.order.service.OrderStateMachine.transit(OrderStateMachine.java:142)\n"
        "\tat com.shifu.order.service.OrderService.changeStatus(OrderService.java:311)\n"
        "\tat com.shifu.order.web.OrderController.handle(OrderController.java:87)\n"
        "\tat jdk.internal.reflect.GeneratedMethodAccessor233.invoke(Unknown Source)\n"
        "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)\n"
        "Caused by: com.mysql.cj.jdbc.exceptions.MySQLTransactionRollbackException: Deadlock "
        "found when trying to get lock; try restarting transaction\n"
        "\tat com.mysql.cj.jdbc.exceptions.SQLError.createSQLException(SQLError.java:123)\n"
        "\tat com.mysql.cj.jdbc.ClientPreparedStatement.executeInternal("
        "ClientPreparedStatement.java:916)\n"
        "\t... 97 more",
        "java.lang.IllegalStateException: order status changed concurrently: expected QUOTING "
        "but was ASSIGNED\n"
        "\tat com.shifu.order.service.OrderStateMachine.check(OrderStateMachine.java:98)\n"
        "\tat com.shifu.order.service.QuoteService.accept(QuoteService.java:164)\n"
        "\tat com.shifu.order.web.QuoteController.accept(QuoteController.java:72)\n"
        "\tat jdk.internal.reflect.GeneratedMethodAccessor187.invoke(Unknown Source)\n"
        "\tat org.springframework.web.method.support.InvocableHandlerMethod.doInvoke("
        "InvocableHandlerMethod.java:205)\n"
        "\tat org.apache.catalina.core.ApplicationFilterChain.doFilter("
        "ApplicationFilterChain.java:166)",
        'java.lang.NullPointerException: Cannot invoke "com.shifu.order.domain.Quote.'
        'getMasterId()" because "quote" is null\n'
        "\tat com.shifu.order.service.QuoteService.toView(QuoteService.java:233)\n"
        "\tat java.base/java.util.stream.ReferencePipeline$3$1.accept(ReferencePipeline.java:197)\n"
        "\tat com.shifu.order.web.OrderController.detail(OrderController.java:141)\n"
        "\tat org.springframework.web.servlet.DispatcherServlet.doDispatch("
        "DispatcherServlet.java:1072)",
    ),
    "pay-service": (
        "com.shifu.pay.gateway.PayGatewayException: WECHAT_PAY prepay failed: SYSTEMERROR\n"
        "\tat com.shifu.pay.gateway.WechatPayClient.prepay(WechatPayClient.java:118)\n"
        "\tat com.shifu.pay.service.PaymentService.create(PaymentService.java:76)\n"
        "\tat com.shifu.pay.web.PaymentController.create(PaymentController.java:44)\n"
        "Caused by: java.net.SocketTimeoutException: Read timed out\n"
        "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)\n"
        "\tat okhttp3.internal.connection.RealCall.execute(RealCall.kt:154)\n"
        "\tat com.shifu.pay.gateway.WechatPayClient.post(WechatPayClient.java:201)\n"
        "\t... 88 more",
        "org.springframework.dao.DuplicateKeyException: \n"
        "### Error updating database.  Cause: java.sql.SQLIntegrityConstraintViolationException:"
        " Duplicate entry 'PAY202611010000123' for key 'uk_payment_no'\n"
        "### SQL: insert into payment (payment_no, order_id, amount, status) values (?, ?, ?, ?)\n"
        "\tat org.mybatis.spring.MyBatisExceptionTranslator.translateExceptionIfPossible("
        "MyBatisExceptionTranslator.java:92)\n"
        "\tat com.shifu.pay.service.PaymentService.create(PaymentService.java:81)\n"
        "Caused by: java.sql.SQLIntegrityConstraintViolationException: Duplicate entry "
        "'PAY202611010000123' for key 'uk_payment_no'\n"
        "\tat com.mysql.cj.jdbc.exceptions.SQLError.createSQLException(SQLError.java:117)\n"
        "\t... 91 more",
    ),
    "master-service": (
        "org.springframework.data.redis.RedisConnectionFailureException: Unable to connect to "
        "Redis\n"
        "\tat org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory"
        "$ExceptionTranslatingConnectionProvider.translateException("
        "LettuceConnectionFactory.java:1805)\n"
        "\tat com.shifu.master.dispatch.GeoIndex.nearby(GeoIndex.java:57)\n"
        "\tat com.shifu.master.service.DispatchService.accept(DispatchService.java:129)\n"
        "Caused by: io.lettuce.core.RedisConnectionException: Unable to connect to "
        "redis-master:6379\n"
        "\tat io.lettuce.core.RedisConnectionException.create(RedisConnectionException.java:78)\n"
        "\t... 64 more",
        "org.springframework.dao.QueryTimeoutException: PreparedStatementCallback; SQL [select "
        "* from master_skill where master_id = ?]; Statement cancelled due to timeout or client "
        "request\n"
        "\tat org.springframework.jdbc.support.SQLExceptionSubclassTranslator.doTranslate("
        "SQLExceptionSubclassTranslator.java:70)\n"
        "\tat com.shifu.master.repository.MasterRepository.skills(MasterRepository.java:88)\n"
        "Caused by: com.mysql.cj.jdbc.exceptions.MySQLTimeoutException: Statement cancelled due "
        "to timeout or client request\n"
        "\t... 75 more",
    ),
    "user-service": (
        "org.springframework.jdbc.CannotGetJdbcConnectionException: Failed to obtain JDBC "
        "Connection\n"
        "\tat org.springframework.jdbc.datasource.DataSourceUtils.getConnection("
        "DataSourceUtils.java:84)\n"
        "\tat com.shifu.user.repository.UserRepository.findById(UserRepository.java:41)\n"
        "\tat com.shifu.user.web.UserController.me(UserController.java:35)\n"
        "Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not "
        "available, request timed out after 30000ms.\n"
        "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n"
        "\t... 58 more",
    ),
    "search-service": (
        "co.elastic.clients.elasticsearch._types.ElasticsearchException: "
        "[es/search] failed: [search_phase_execution_exception] all shards failed\n"
        "\tat co.elastic.clients.transport.ElasticsearchTransportBase.getApiResponse("
        "ElasticsearchTransportBase.java:345)\n"
        "\tat com.shifu.search.service.MasterSearchService.search(MasterSearchService.java:97)\n"
        "\tat com.shifu.search.web.SearchController.search(SearchController.java:52)",
    ),
}
_BACKGROUND_STACK = (
    "java.net.SocketTimeoutException: connect timed out\n"
    "\tat java.base/sun.nio.ch.NioSocketImpl.timedFinishConnect(NioSocketImpl.java:546)\n"
    "\tat okhttp3.internal.connection.RealConnection.connectSocket(RealConnection.kt:128)\n"
    "\tat com.shifu.pay.gateway.WechatPayClient.queryRefund(WechatPayClient.java:166)\n"
    "\tat com.shifu.pay.job.RefundStatusPoller.poll(RefundStatusPoller.java:49)\n"
    "\tat org.springframework.scheduling.support.DelegatingErrorHandlingRunnable.run("
    "DelegatingErrorHandlingRunnable.java:54)"
)

# Scheduled jobs: (service, every seconds, thread, logger, message template).
JOBS: tuple[tuple[str, int, str, str, str], ...] = (
    (
        "order-service",
        60,
        "scheduling-1",
        "c.shifu.order.job.OrderTimeoutJob",
        "Closed {a} unpaid orders older than 30 min",
    ),
    (
        "order-service",
        300,
        "scheduling-1",
        "c.shifu.order.job.QuoteExpiryJob",
        "Expired {a} quotes, {b} orders back to the hall",
    ),
    (
        "master-service",
        30,
        "dispatch-sched-1",
        "c.s.master.dispatch.DispatchScheduler",
        "Dispatch round done pending={a} matched={b} costMs={c}",
    ),
    (
        "pay-service",
        600,
        "scheduling-1",
        "c.shifu.pay.job.ReconcileJob",
        "Reconciled {a} WECHAT_PAY transactions, mismatches=0",
    ),
    (
        "pay-service",
        3600,
        "scheduling-2",
        "c.shifu.pay.job.SettlementJob",
        "Settlement batch submitted: {a} masters, costMs={c}",
    ),
    (
        "user-service",
        900,
        "scheduling-1",
        "c.shifu.user.job.TokenCleanupJob",
        "Removed {a} expired refresh tokens",
    ),
    (
        "search-service",
        60,
        "index-refresh-1",
        "c.shifu.search.index.IndexRefresher",
        "Refreshed master index: {a} documents updated in {c}ms",
    ),
)


def service_hosts(scale: float) -> int:
    """Instances per service: three at full scale, fewer for small runs."""
    return max(1, min(3, round(3 * scale**0.5)))


def host_name(service: str, k: int) -> str:
    return f"{service.removesuffix('-service')}-{k + 1:02d}"


class AppLogBuilder:
    """Collects log entries per service instance: (ms since midnight, sequence, text)."""

    def __init__(self, rng: FastRandom, day: date, n_hosts: int) -> None:
        self.rng = rng
        self.day = day
        self.n_hosts = n_hosts
        self.prefix = f"{day.isoformat()} "
        self.entries: dict[tuple[str, int], list[tuple[int, int, str]]] = {
            (s, h): [] for s in APP_SERVICES for h in range(n_hosts)
        }
        self._seq = 0

    def _entry(
        self,
        service: str,
        host: int,
        t: int,
        level: str,
        thread: str,
        logger: str,
        message: str,
        stack: str | None = None,
    ) -> None:
        t = min(max(t, 0), DAY_MS - 1)
        s = t // 1000
        text = (
            f"{self.prefix}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{t % 1000:03d} "
            f"{level:>5} {PID} --- [{thread}] {logger[-40:]:<40} : {message}\n"
        )
        if stack is not None:
            text += stack + "\n"
        self._seq += 1
        self.entries[(service, host)].append((t, self._seq, text))

    def add_requests(self, log: AccessLog, actions: list[Action]) -> None:
        """What the services log about requests: actions, logins, errors and warnings."""
        rng = self.rng
        requests = log.requests
        for t, service, kind, req, detail in log.hooks:
            host = rng.below(self.n_hosts)
            thread = _THREADS[rng.below(len(_THREADS))]
            trace = f"[traceId={log.request_id(req)}] "
            method, path = requests[req][3], requests[req][4]
            if kind == "action":
                a = actions[detail]
                fields = {
                    "user_id": a.user_id,
                    "role": a.role,
                    "city": a.city_code,
                    "order_id": a.order_id,
                    "order_no": a.order_no,
                    "category": a.category_code,
                    "amount_fen": a.amount_fen,
                    "quote_id": a.quote_id,
                    "dispatch_id": a.dispatch_id,
                    "score": a.score,
                    "channel": pay_channel(a),
                    "cost": rng.between(80, 900),
                }
                fields = {k: ("null" if v is None else v) for k, v in fields.items()}
                logger, template = ACTION_MESSAGES.get(
                    a.kind, ("c.shifu.common.web.ApiController", a.kind + " ok userId={user_id}")
                )
                self._entry(
                    service, host, t, "INFO", thread, logger, trace + template.format(**fields)
                )
                if a.kind in FOLLOW_UPS:
                    logger, template = FOLLOW_UPS[a.kind]
                    self._entry(
                        service,
                        host,
                        t + rng.between(1, 30),
                        "INFO",
                        thread,
                        logger,
                        trace + template.format(**fields),
                    )
            elif kind == "login":
                self._entry(
                    service,
                    host,
                    t,
                    "INFO",
                    thread,
                    "c.shifu.user.web.AuthController",
                    f"{trace}Login success userId={detail}",
                )
            elif kind == "error":
                stacks = _STACKS[service]
                self._entry(
                    service,
                    host,
                    t,
                    "ERROR",
                    thread,
                    _HANDLER,
                    f"{trace}Unhandled exception on {method} {path}",
                    stacks[rng.below(len(stacks))],
                )
            elif kind == "unauthorized":
                self._entry(
                    service,
                    host,
                    t,
                    "WARN",
                    thread,
                    "c.shifu.common.security.JwtAuthFilter",
                    f"{trace}Access token expired, rejecting {method} {path}",
                )
            elif kind == "invalid":
                self._entry(
                    service,
                    host,
                    t,
                    "WARN",
                    thread,
                    _HANDLER,
                    f"{trace}Validation failed for {method} {path}: page must be less "
                    "than or equal to 100",
                )
            elif kind == "rate_limited":
                self._entry(
                    service,
                    host,
                    t,
                    "WARN",
                    thread,
                    "c.shifu.common.web.RateLimitInterceptor",
                    f"{trace}Rate limit exceeded ip={requests[req][2]} limit=20/s",
                )
            elif kind == "slow":
                self._entry(
                    service,
                    host,
                    t,
                    "WARN",
                    thread,
                    "c.shifu.common.web.AccessLogInterceptor",
                    f"{trace}Slow request {method} {path} took {requests[req][10]}ms",
                )

    def add_background(self, scale: float) -> None:
        """Scheduled jobs on the leader instance, pool warnings and failed polls."""
        rng = self.rng
        for service, every, thread, logger, template in JOBS:
            for k in range(DAY_MS // (every * 1000)):
                t = k * every * 1000 + rng.between(0, 900)
                busy = max(1, int(scale * 40 * (0.2 + _daytime(t))))
                message = template.format(
                    a=rng.between(0, busy), b=rng.between(0, busy), c=rng.between(3, 400)
                )
                self._entry(service, 0, t, "INFO", thread_field(thread), logger, message)
        for service in APP_SERVICES:
            for host in range(self.n_hosts):
                for _ in range(rng.between(0, 4)):
                    self._entry(
                        service,
                        host,
                        rng.below(DAY_MS),
                        "WARN",
                        _HOUSEKEEPER,
                        "com.zaxxer.hikari.pool.HikariPool",
                        "HikariPool-1 - Thread starvation or clock leap detected "
                        f"(housekeeper delta={rng.between(1, 3)}m{rng.below(60)}s"
                        f"{rng.below(1000)}ms).",
                    )
        for _ in range(rng.between(2, 7)):
            self._entry(
                "pay-service",
                0,
                rng.below(DAY_MS),
                "ERROR",
                thread_field("scheduling-1"),
                "c.shifu.pay.job.RefundStatusPoller",
                f"Failed to query refund status refundNo=RF{self.day:%Y%m%d}"
                f"{rng.below(10**6):06d}, will retry",
                _BACKGROUND_STACK,
            )

    def files(self) -> dict[tuple[str, int, int], list[str]]:
        """Entries per (service, host, hour), in time order."""
        out: dict[tuple[str, int, int], list[str]] = {}
        for (service, host), entries in sorted(self.entries.items()):
            entries.sort()
            for t, _seq, text in entries:
                out.setdefault((service, host, t // 3_600_000), []).append(text)
        return out


def _daytime(t: int) -> float:
    """0 at night, 1 at the busiest hours: how much work a job finds."""
    hour = t // 3_600_000
    return 1.0 if 9 <= hour < 22 else 0.3 if 7 <= hour < 9 or hour >= 22 else 0.05
