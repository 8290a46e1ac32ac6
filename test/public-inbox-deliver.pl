#!/usr/bin/perl -w
# What public-inbox-mda does with one message (the inbox's filter, its list headers, its
# importer), for a stream of messages in one process: public-inbox-mda loads public-inbox
# again for each message, which costs a second or two. Reads "<length>\n<message>" records
# from stdin and answers each with "ok" (or "error: ...") once it is added; what was added
# is committed, and visible to public-inbox-httpd, as soon as no record has come for a
# tenth of a second, as a mail server's queue delivers a burst. Used by
# test/public-inbox-server.ts.
use strict;
use IO::Select;
use PublicInbox::Eml;
use PublicInbox::MDA;
use PublicInbox::Config;
use PublicInbox::InboxWritable;

my $cfg = PublicInbox::Config->new;
my $ibx = $cfg->lookup($ENV{ORIGINAL_RECIPIENT}) or die "no inbox for $ENV{ORIGINAL_RECIPIENT}\n";
$ibx = PublicInbox::InboxWritable->new($ibx);
$ibx->{filter} ||= 'PublicInbox::Filter::Base';
my $filter = $ibx->filter;
my $im;
my $in = IO::Select->new(\*STDIN);
my $buf = '';
$| = 1;

sub deliver {
	my ($str) = @_;
	$str =~ s/\A[\r\n]*From [^\r\n]*\r?\n//s;
	my $mime = PublicInbox::Eml->new($str);
	my $ret = $filter->delivery($mime);
	if (ref($ret)) { # the filter altered it
		$mime = $ret;
	} elsif ($ret == PublicInbox::Filter::Base::REJECT()) {
		return "error: rejected: " . ($filter->err // '');
	} elsif ($ret == PublicInbox::Filter::Base::IGNORE()) {
		return "error: ignored by the inbox's filter";
	}
	PublicInbox::MDA->set_list_headers($mime, $ibx);
	$im //= $ibx->importer(0);
	my $ok = eval { $im->add($mime); 1 };
	(my $why = $@ // '') =~ s/\s+/ /g;
	return $ok ? "ok" : "error: $why";
}

for (;;) {
	if ($buf =~ /\A(\d+)\n/ && length($buf) >= length($1) + 1 + $1) {
		my $len = $1;
		my $str = substr($buf, length($len) + 1, $len);
		$buf = substr($buf, length($len) + 1 + $len);
		print deliver($str), "\n";
		next;
	}
	if ($im && !$in->can_read(0.1)) {
		$im->done;
		$im = undef;
	}
	my $n = sysread(STDIN, $buf, 1 << 20, length($buf));
	die "read: $!\n" unless defined $n;
	last if $n == 0;
}
$im->done if $im;
